// Prints the top-5 classes of a 1x3x224x224 input of ones, one per line, through libtsrt.
// Usage: TSRT_PREFIX=<install prefix> node top5.js MODEL.pt
const koffi = require("koffi");

const prefix = process.env.TSRT_PREFIX;
if (!prefix || process.argv.length !== 3) {
  console.error("usage: TSRT_PREFIX=<install prefix> node top5.js MODEL.pt");
  process.exit(2);
}
const lib = koffi.load(`${prefix}/lib/libtsrt.so.1`);
const TSRT_OK = 0;
const TSRT_ABI_VERSION = 2;
koffi.opaque("tsrt_model");
const abiVersion = lib.func("int tsrt_abi_version(void)");
const lastError = lib.func("const char *tsrt_last_error(void)");
const load = lib.func("int tsrt_model_load(const char *path, void *options, _Out_ tsrt_model **out)");
const free = lib.func("void tsrt_model_free(tsrt_model *model)");
const topk = lib.func("int tsrt_model_topk(tsrt_model *model, const float *data, const int64_t *shape, " +
  "size_t ndim, int64_t k, _Out_ int64_t *indices, _Out_ float *probs, size_t capacity, void *rows)");

if (abiVersion() < TSRT_ABI_VERSION) {
  console.error("libtsrt is older than this program expects");
  process.exit(1);
}
const model = [null];
if (load(process.argv[2], null, model) !== TSRT_OK) {
  console.error(lastError());
  process.exit(1);
}
const image = new Float32Array(3 * 224 * 224).fill(1);
const shape = new BigInt64Array([1n, 3n, 224n, 224n]);
const indices = new BigInt64Array(5);
const probs = new Float32Array(5);
const status = topk(model[0], image, shape, 4, 5, indices, probs, 5, null);
if (status !== TSRT_OK) {
  console.error(lastError());
  free(model[0]);
  process.exit(1);
}
for (const index of indices) console.log(index.toString());
free(model[0]);
