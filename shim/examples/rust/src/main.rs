//! Prints the top-5 classes of a 1x3x224x224 input of ones, one per line, through libtsrt.
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};

#[repr(C)]
struct TsrtModel {
    _private: [u8; 0],
}
#[repr(C)]
struct TsrtOptions {
    _private: [u8; 0],
}

const TSRT_OK: c_int = 0;
const TSRT_ABI_VERSION: c_int = 2;

extern "C" {
    fn tsrt_abi_version() -> c_int;
    fn tsrt_last_error() -> *const c_char;
    fn tsrt_model_load(path: *const c_char, options: *const TsrtOptions, out: *mut *mut TsrtModel) -> c_int;
    fn tsrt_model_free(model: *mut TsrtModel);
    fn tsrt_model_topk(model: *mut TsrtModel, data: *const f32, shape: *const i64, ndim: usize,
                       k: i64, indices: *mut i64, probs: *mut f32, capacity: usize,
                       out_rows: *mut i64) -> c_int;
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(tsrt_last_error()) }.to_string_lossy().into_owned()
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: tsrt-top5 MODEL.pt");
    if unsafe { tsrt_abi_version() } < TSRT_ABI_VERSION {
        eprintln!("libtsrt is older than ABI {}", TSRT_ABI_VERSION);
        std::process::exit(1);
    }
    let c_path = CString::new(path).expect("path without NUL");
    let mut model: *mut TsrtModel = std::ptr::null_mut();
    if unsafe { tsrt_model_load(c_path.as_ptr(), std::ptr::null(), &mut model) } != TSRT_OK {
        eprintln!("{}", last_error());
        std::process::exit(1);
    }
    let image = vec![1.0f32; 3 * 224 * 224];
    let shape: [i64; 4] = [1, 3, 224, 224];
    let mut indices = [0i64; 5];
    let mut probs = [0f32; 5];
    let status = unsafe {
        tsrt_model_topk(model, image.as_ptr(), shape.as_ptr(), 4, 5, indices.as_mut_ptr(),
                        probs.as_mut_ptr(), 5, std::ptr::null_mut())
    };
    if status != TSRT_OK {
        eprintln!("{}", last_error());
        unsafe { tsrt_model_free(model) };
        std::process::exit(1);
    }
    for index in indices {
        println!("{}", index);
    }
    unsafe { tsrt_model_free(model) };
}
