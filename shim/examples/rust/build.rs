// Links the installed libtsrt: TSRT_PREFIX is the prefix given to `cmake --install`.
fn main() {
    let prefix = std::env::var("TSRT_PREFIX").expect("set TSRT_PREFIX to libtsrt's install prefix");
    let lib = format!("{}/lib", prefix);
    println!("cargo:rustc-link-search=native={}", lib);
    println!("cargo:rustc-link-lib=dylib=tsrt");
    // Found at run time without LD_LIBRARY_PATH; libtsrt finds libtorch itself.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib);
    println!("cargo:rerun-if-env-changed=TSRT_PREFIX");
}
