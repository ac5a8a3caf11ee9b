//! Build script: locate a ROS 2 Jazzy install and generate FFI bindings for the
//! rosidl runtime / introspection headers with bindgen (into OUT_DIR; nothing
//! generated is committed).
//!
//! Search order for the install prefix:
//! 1. `RENOIR_ROS_PREFIX`
//! 2. each entry of `AMENT_PREFIX_PATH`
//! 3. `<workspace>/.ros-venv`

use std::env;
use std::path::{Path, PathBuf};

const NEEDED: &str = "rosidl_runtime_c/message_type_support_struct.h";
const FAIL: &str =
    "msg_support needs ROS 2 Jazzy headers: run scripts/ros_env.sh or source a ROS 2 install";

/// Include directories of a prefix: plain `include/` (classic layout) and
/// `include/<pkg>/` (Humble+ per-package layout, used by the PyPI wheels).
fn include_dirs(prefix: &Path) -> Vec<PathBuf> {
    let inc = prefix.join("include");
    let mut dirs = vec![inc.clone()];
    if let Ok(rd) = std::fs::read_dir(&inc) {
        let mut pkgs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        pkgs.sort();
        dirs.extend(pkgs);
    }
    dirs
}

fn has_headers(prefix: &Path) -> bool {
    include_dirs(prefix)
        .iter()
        .any(|d| d.join(NEEDED).is_file())
}

fn find_prefix() -> Option<PathBuf> {
    if let Some(p) = env::var_os("RENOIR_ROS_PREFIX") {
        let p = PathBuf::from(p);
        if has_headers(&p) {
            return Some(p);
        }
    }
    if let Some(list) = env::var_os("AMENT_PREFIX_PATH") {
        for p in env::split_paths(&list) {
            if has_headers(&p) {
                return Some(p);
            }
        }
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").ok()?);
    let venv = manifest.parent()?.join(".ros-venv");
    if has_headers(&venv) {
        return Some(venv);
    }
    None
}

/// All directories that may hold the ROS prefix's own shared libraries.
fn lib_dirs(prefix: &Path) -> Vec<PathBuf> {
    let mut out = vec![prefix.join("lib")];
    if let Ok(rd) = std::fs::read_dir(prefix.join("lib")) {
        for e in rd.filter_map(|e| e.ok()) {
            let sp = e.path().join("site-packages");
            if let Ok(rd2) = std::fs::read_dir(&sp) {
                for e2 in rd2.filter_map(|e| e.ok()) {
                    let p = e2.path();
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if p.is_dir() && n.starts_with("ros_") && n.ends_with(".libs") {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

fn main() {
    println!("cargo:rerun-if-env-changed=RENOIR_ROS_PREFIX");
    println!("cargo:rerun-if-env-changed=AMENT_PREFIX_PATH");
    println!("cargo:rerun-if-changed=build.rs");

    let Some(prefix) = find_prefix() else {
        eprintln!("error: {FAIL}");
        panic!("{FAIL}");
    };
    let incs = include_dirs(&prefix);
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    // --- C bindings -------------------------------------------------------
    let c_header = r#"
#include <rosidl_runtime_c/message_type_support_struct.h>
#include <rosidl_runtime_c/service_type_support_struct.h>
#include <rosidl_runtime_c/string.h>
#include <rosidl_runtime_c/string_functions.h>
#include <rosidl_runtime_c/u16string.h>
#include <rosidl_runtime_c/u16string_functions.h>
#include <rosidl_runtime_c/primitives_sequence.h>
#include <rosidl_runtime_c/type_hash.h>
#include <rcutils/allocator.h>
#include <rosidl_typesupport_introspection_c/field_types.h>
#include <rosidl_typesupport_introspection_c/message_introspection.h>
#include <rosidl_typesupport_introspection_c/service_introspection.h>
"#;
    let mut b = bindgen::Builder::default()
        .header_contents("renoir_rosidl_c.h", c_header)
        .allowlist_type("rosidl_message_type_support_t")
        .allowlist_type("rosidl_service_type_support_t")
        .allowlist_type("rosidl_type_hash_t")
        .allowlist_type("rosidl_runtime_c__String")
        .allowlist_type("rosidl_runtime_c__U16String")
        .allowlist_type("rosidl_runtime_c__.*__Sequence")
        .allowlist_type("rosidl_typesupport_introspection_c__.*")
        .allowlist_type("rosidl_typesupport_introspection_c_field_types")
        .allowlist_function("get_message_typesupport_handle")
        .allowlist_function("get_service_typesupport_handle")
        .allowlist_function("rosidl_runtime_c__String__(init|fini|assignn)")
        .allowlist_function("rosidl_runtime_c__U16String__(init|fini|assignn)")
        .allowlist_function("rcutils_get_default_allocator")
        .allowlist_var("ROSIDL_TYPE_HASH_SIZE")
        .rustified_enum("rosidl_typesupport_introspection_c_field_types")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .derive_default(false)
        .layout_tests(true)
        .generate_comments(false);
    for d in &incs {
        b = b.clang_arg(format!("-I{}", d.display()));
    }
    let bindings = b
        .generate()
        .unwrap_or_else(|e| panic!("bindgen (C) failed: {e}; {FAIL}"));
    bindings
        .write_to_file(out.join("rosidl_c.rs"))
        .expect("write rosidl_c.rs");

    // --- C++ introspection structs (C-compatible layout) --------------------
    let cpp_header = r#"
#include <rosidl_typesupport_introspection_cpp/message_introspection.hpp>
#include <rosidl_typesupport_introspection_cpp/service_introspection.hpp>
"#;
    let mut b = bindgen::Builder::default()
        .header_contents("renoir_rosidl_cpp.hpp", cpp_header)
        .clang_arg("-x")
        .clang_arg("c++")
        .clang_arg("-std=c++17")
        .allowlist_type("rosidl_typesupport_introspection_cpp::MessageMember_s")
        .allowlist_type("rosidl_typesupport_introspection_cpp::MessageMembers_s")
        .allowlist_type("rosidl_typesupport_introspection_cpp::ServiceMembers_s")
        .blocklist_type("rosidl_message_type_support_t")
        .blocklist_type("rosidl_service_type_support_t")
        .blocklist_type("rosidl_type_hash_t")
        .blocklist_type("rosidl_type_hash_s")
        .blocklist_type("rosidl_runtime_c__String")
        .blocklist_type(".*type_description.*")
        .blocklist_type("rosidl_message_.*_function")
        .blocklist_type("rosidl_service_.*_function")
        .rustified_enum(".*MessageInitialization")
        .derive_default(false)
        .layout_tests(true)
        .generate_comments(false);
    for d in &incs {
        b = b.clang_arg(format!("-I{}", d.display()));
    }
    let bindings = b
        .generate()
        .unwrap_or_else(|e| panic!("bindgen (C++) failed: {e}; {FAIL}"));
    bindings
        .write_to_file(out.join("rosidl_cpp.rs"))
        .expect("write rosidl_cpp.rs");

    // --- C++ shim for std::string / std::u16string -------------------------
    println!("cargo:rerun-if-changed=src/ffi/cxx_shim.cpp");
    println!("cargo:rerun-if-env-changed=CXX");
    let cxx = env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let obj = out.join("cxx_shim.o");
    let status = std::process::Command::new(&cxx)
        .args([
            "-std=c++17",
            "-O2",
            "-fPIC",
            "-c",
            "src/ffi/cxx_shim.cpp",
            "-o",
        ])
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("running C++ compiler {cxx:?}: {e}"));
    assert!(status.success(), "compiling src/ffi/cxx_shim.cpp failed");
    let lib = out.join("librenoir_cxx_shim.a");
    let _ = std::fs::remove_file(&lib);
    let status = std::process::Command::new(env::var("AR").unwrap_or_else(|_| "ar".into()))
        .arg("crs")
        .arg(&lib)
        .arg(&obj)
        .status()
        .expect("running ar");
    assert!(status.success(), "ar failed");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=renoir_cxx_shim");
    println!("cargo:rustc-link-lib=dylib=stdc++");

    // --- linking ------------------------------------------------------------
    let libs = lib_dirs(&prefix);
    for d in &libs {
        println!("cargo:rustc-link-search=native={}", d.display());
    }
    println!("cargo:rustc-link-lib=dylib=rosidl_runtime_c");
    println!("cargo:rustc-link-lib=dylib=rcutils");
    // Tests/benches of this crate find the ROS libraries without
    // LD_LIBRARY_PATH (DT_RPATH also applies to indirect dependencies).
    let rpath: Vec<String> = libs.iter().map(|d| d.display().to_string()).collect();
    let arg = format!("-Wl,--disable-new-dtags,-rpath,{}", rpath.join(":"));
    // (`rustc-link-arg` applies only to this package's own linked targets:
    // unit tests, integration tests, benches; never to crates depending on it.)
    println!("cargo:rustc-link-arg={arg}");
    println!(
        "cargo:rustc-env=RENOIR_BUILD_ROS_PREFIX={}",
        prefix.display()
    );
    println!("cargo:rustc-env=RENOIR_BUILD_ROS_LIBS={}", rpath.join(":"));
}
