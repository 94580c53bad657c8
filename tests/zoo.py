"""TorchScript models that exercise every input and output kind, for the tests."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

# Every dtype a numpy array may have when it crosses into libtsrt as a tensor.
ARRAY_DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    np.int64,
    np.int32,
    np.int16,
    np.int8,
    np.uint8,
    np.bool_,
]


class Mixed(torch.nn.Module):
    """Scalars of every kind in; a tuple of a tensor, a dict and a list out."""

    def forward(
        self, x: torch.Tensor, scale: float, n: int, flag: bool, name: str
    ) -> Tuple[torch.Tensor, Dict[str, int], List[str]]:
        return x * scale + n, {"n": n, "flag": int(flag)}, [name, name.upper()]


class Containers(torch.nn.Module):
    """Lists, dicts, tuples and Optional in; nested containers out."""

    def forward(
        self,
        xs: List[torch.Tensor],
        table: Dict[str, torch.Tensor],
        pair: Tuple[int, torch.Tensor],
        maybe: Optional[torch.Tensor] = None,
    ) -> Tuple[List[torch.Tensor], Dict[str, Tuple[int, float]], Optional[torch.Tensor]]:
        total = pair[1] * pair[0]
        for x in xs:
            total = total + x.sum()
        sizes: Dict[str, Tuple[int, float]] = {}
        for key, value in table.items():
            sizes[key] = (value.numel(), float(value.sum()))
        return [total, total * 2], sizes, maybe


class DoubleIt(torch.nn.Module):
    """Any dtype in, the same dtype out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


class ToBFloat16(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * 1.37).to(torch.bfloat16)


class ZeroDim(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return (x * y).sum(), x.max()


class WithMethods(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    @torch.jit.export
    def predict(self, x: torch.Tensor, k: int = 2) -> Tuple[torch.Tensor, torch.Tensor]:
        return torch.topk(self.linear(x), k)

    @torch.jit.export
    def describe(self) -> str:
        return "linear 4 -> 3"


class Counter(torch.nn.Module):
    """Keeps state: a Python int attribute and a tensor buffer changed in place."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.register_buffer("total", torch.zeros(3))

    def forward(self, step: int, x: torch.Tensor) -> Tuple[int, torch.Tensor]:
        self.count += step
        self.total.add_(x)
        return self.count, self.total

    @torch.jit.export
    def reset(self) -> None:
        self.count = 0
        self.total.zero_()


class KeepsLastInput(torch.nn.Module):
    """Stores its input as state: the input must not be the caller's memory."""

    def __init__(self):
        super().__init__()
        self.last = torch.zeros(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last = x
        return x.sum()

    @torch.jit.export
    def get_last(self) -> torch.Tensor:
        return self.last


class InPlaceOnInput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.add_(1)
        return x * 2


class Aliases(torch.nn.Module):
    """Returns its input, views of it, and containers of those: results that would point into
    the caller's memory if the library handed them out as they are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1)

    @torch.jit.export
    def first(self, x: torch.Tensor) -> torch.Tensor:
        return x[0]

    @torch.jit.export
    def transposed(self, x: torch.Tensor) -> torch.Tensor:
        return x.t()  # a view with other strides: its copy must come out C-contiguous

    @torch.jit.export
    def nested(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        return x, [x[0], x]


class SlowCounter(torch.nn.Module):
    """Keeps state with a read-modify-write that spans `work` loop iterations, so calls
    running at the same time overlap and lose updates unless the library serialises them."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def forward(self, work: int) -> int:
        seen = self.count
        spin = 0
        for i in range(work):
            spin += i % 7
        self.count = seen + 1 + spin * 0
        return self.count


def save(module: torch.nn.Module, path, extra_files=None):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(module.eval())
        scripted.save(str(path), _extra_files=extra_files or {})
    return path


class SmallNet(torch.nn.Module):
    """A small classifier, fast enough for thousands of calls in a test."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class Spins(torch.nn.Module):
    """Never returns: a model that loops forever."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while bool(x.sum() > -1.0):
            x = x + 1.0
        return x


class ConvReLU(torch.nn.Module):
    """Two convolutions with ReLUs, a graph oneDNN Graph fuses. With `nan_bias`, one bias is
    NaN: unfused, ReLU keeps the NaN and the second convolution spreads it to every output;
    libtorch's fused convolution + ReLU turns it into 0 instead, so the fused model returns
    numbers where torch.jit.load returns NaN. `nan_to` then replaces NaN in the result by a
    number, so that both return finite results that differ by about that number."""

    def __init__(self, nan_bias: bool = False, nan_to: Optional[float] = None):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 4, 3)
        self.replace_nan = nan_to is not None
        self.nan_to = float(nan_to or 0.0)
        if nan_bias:
            with torch.no_grad():
                self.conv1.bias[2] = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        if self.replace_nan:
            y = torch.nan_to_num(y, nan=self.nan_to)
        return y


def save_frozen(module: torch.nn.Module, path, input_shape):
    """Saves `module` frozen, as scripts/export.py does, with the input shape that the library
    warms the model up with (and checks fusion on) when loading it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        frozen = torch.jit.freeze(torch.jit.script(module.eval()))
        frozen.save(
            str(path), _extra_files={"tsrt/input_shapes": "x".join(str(d) for d in input_shape)}
        )
    return path


class TinyClassifier(torch.nn.Module):
    """ResNet-18's interface (N x 3 x 224 x 224 in, N x 1000 logits out) at a thousandth of
    its work, for the C contract test under valgrind."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=4)
        self.fc = torch.nn.Linear(4, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class RunningSum(torch.nn.Module):
    """Keeps state only through an in-place update of a buffer, with no attribute assigned."""

    def __init__(self):
        super().__init__()
        self.register_buffer("total", torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.total.add_(x)
        return self.total * 1.0


class Overflows(torch.nn.Module):
    """Overflows float32 inside from ordinary inputs (x > 34): the convolution's sums become
    Inf - Inf = NaN, which fused kernels turn into 0 at the ReLU while torch keeps it; the
    second result is Inf either way."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.conv2 = torch.nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = x * 1e37
        return self.conv2(torch.relu(self.conv(h))), h.amax()


class Cancels(torch.nn.Module):
    """(x + x^3) - x^3: exact in float32 for small x, far off in bfloat16 once x^3 dwarfs x
    (8 significant bits): fine on inputs in [0, 1), wrong on inputs near 10."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cube = x * x * x
        return (x + cube) - cube


class CancelsWithWeights(torch.nn.Module):
    """x * 1.001 - x: its weights round to 1.0 in bfloat16, so the result becomes 0."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.full((8,), 1.001))
        self.b = torch.nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.a - x * self.b


# ---------------------------------------------------------------- models the fast path fuses
#
# Frozen, each is a graph oneDNN Graph fuses in its own way. Every one takes N x 3 x H x W
# images and is built with fixed random weights (and non-trivial batch-norm statistics, which
# freezing folds into the convolutions), so that its file is the same in every run.


def _seeded(module: torch.nn.Module) -> torch.nn.Module:
    """Gives batch norms running statistics and affine parameters away from 0 and 1, so that
    folding them into the convolutions changes the weights."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                n = layer.num_features
                layer.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                layer.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                layer.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                layer.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return module


class ConvBNReLU(torch.nn.Module):
    """Convolution, batch norm and ReLU, twice: freezing folds each batch norm into its
    convolution, and the fused path runs convolution + ReLU as one kernel."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 6, 3, stride=2)
        self.bn2 = torch.nn.BatchNorm2d(6)
        _seeded(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(x)))


class ResidualBlock(torch.nn.Module):
    """ResNet's basic block after a stem: convolution + add + ReLU, which the fused path runs
    as one kernel (the addition as a post-op of the second convolution)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(8)
        _seeded(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


class Pools(torch.nn.Module):
    """Max pooling after a ReLU and average pooling (padded) before one, on an odd spatial size
    (the windows do not tile it), and both with their default stride (max_pool2d(x, 2), whose
    empty stride list oneDNN Graph refuses unless libtsrt writes the stride out), with the
    branches' results flattened and returned as a tuple: pooling is where oneDNN drops NaN."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 6, 3)
        self.conv2 = torch.nn.Conv2d(3, 6, 3)
        self.conv3 = torch.nn.Conv2d(6, 4, 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 3, 2, ceil_mode=True)
        b = torch.relu(torch.nn.functional.avg_pool2d(self.conv2(x), 3, 2, 1))
        c = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        d = torch.relu(torch.nn.functional.avg_pool2d(self.conv2(x), 2))
        return self.conv3(a).flatten(1), self.conv3(b).flatten(1), self.conv3(c + d).flatten(1)


class LinearActivations(torch.nn.Module):
    """Linear layers with GELU, sigmoid, tanh and hardswish (each a post-op the fused path can
    attach to its matmul), concatenated."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.pool = torch.nn.AdaptiveAvgPool2d(3)
        self.gelu = torch.nn.Linear(27, 16)
        self.sigmoid = torch.nn.Linear(27, 16)
        self.tanh = torch.nn.Linear(27, 16)
        self.hardswish = torch.nn.Linear(27, 16)
        self.out = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        h = torch.cat(
            [
                torch.nn.functional.gelu(self.gelu(x)),
                torch.sigmoid(self.sigmoid(x)),
                torch.tanh(self.tanh(x)),
                torch.nn.functional.hardswish(self.hardswish(x)),
            ],
            dim=1,
        )
        return self.out(h)


class Concat(torch.nn.Module):
    """Two convolution + ReLU branches concatenated along the channels, then a convolution:
    an inception-like join the fused path must keep in its layout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Conv2d(3, 4, 1)
        self.b = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.c = torch.nn.Conv2d(10, 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], dim=1)
        return self.c(y)


class Depthwise(torch.nn.Module):
    """MobileNet's separable convolution: depthwise (groups = channels) + batch norm + ReLU6,
    then pointwise + batch norm + hardswish."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.expand = torch.nn.Conv2d(3, 12, 1, bias=False)
        self.depthwise = torch.nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(12)
        self.pointwise = torch.nn.Conv2d(12, 8, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(8)
        _seeded(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.depthwise(self.expand(x))
        x = torch.nn.functional.relu6(self.bn1(x))
        return torch.nn.functional.hardswish(self.bn2(self.pointwise(x)))


def squeezenet() -> torch.nn.Module:
    """torchvision's SqueezeNet 1.1 with random weights and 10 classes: fire modules
    (concatenated 1x1 and 3x3 expansions), ceil-mode max pooling, dropout (off in eval) and an
    adaptive average pool; about 7 MFLOP an image at 32 x 32."""
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.squeezenet1_1(weights=None, num_classes=10)


def mobilenet() -> torch.nn.Module:
    """torchvision's MobileNetV3-Small with random weights and 10 classes: depthwise
    convolutions, hardswish, and squeeze-and-excitation (average pool, hardsigmoid and a
    multiplication)."""
    import torchvision

    torch.manual_seed(0)
    return _seeded(torchvision.models.mobilenet_v3_small(weights=None, num_classes=10))


# name: (builder, C x H x W of the warm-up input stored in the file)
FUSED_MODELS = {
    "ConvReLU": (ConvReLU, (3, 10, 10)),
    "ConvBNReLU": (ConvBNReLU, (3, 10, 10)),
    "ResidualBlock": (ResidualBlock, (3, 8, 8)),
    "Pools": (Pools, (3, 11, 11)),
    "LinearActivations": (LinearActivations, (3, 9, 9)),
    "Concat": (Concat, (3, 9, 9)),
    "Depthwise": (Depthwise, (3, 10, 10)),
    "squeezenet": (squeezenet, (3, 32, 32)),
    "mobilenet": (mobilenet, (3, 32, 32)),
}
