//! Build script: locate a ROS 2 (Jazzy) install, generate bindings for the
//! rmw / rcutils / rosidl C headers with bindgen, and link against librmw,
//! librcutils and librosidl_runtime_c from that install.
//!
//! Nothing generated here is committed: the bindings land in OUT_DIR.

use std::env;
use std::path::{Path, PathBuf};

/// Headers whose declarations we need (rmw API, helpers, rcutils, rosidl).
const HEADERS: &[&str] = &[
    "rmw/rmw.h",
    "rmw/error_handling.h",
    "rmw/allocators.h",
    "rmw/init.h",
    "rmw/init_options.h",
    "rmw/event.h",
    "rmw/event_callback_type.h",
    "rmw/features.h",
    "rmw/get_topic_endpoint_info.h",
    "rmw/get_service_names_and_types.h",
    "rmw/get_topic_names_and_types.h",
    "rmw/get_node_info_and_types.h",
    "rmw/get_network_flow_endpoints.h",
    "rmw/dynamic_message_type_support.h",
    "rmw/names_and_types.h",
    "rmw/topic_endpoint_info_array.h",
    "rmw/network_flow_endpoint_array.h",
    "rmw/validate_full_topic_name.h",
    "rmw/validate_node_name.h",
    "rmw/validate_namespace.h",
    "rmw/sanity_checks.h",
    "rmw/qos_profiles.h",
    "rmw/qos_string_conversions.h",
    "rmw/security_options.h",
    "rmw/discovery_options.h",
    "rmw/subscription_content_filter_options.h",
    "rmw/message_sequence.h",
    "rmw/serialized_message.h",
    "rmw/time.h",
    "rcutils/error_handling.h",
    "rcutils/allocator.h",
    "rcutils/strdup.h",
    "rcutils/logging.h",
    "rcutils/types/string_array.h",
    "rosidl_runtime_c/message_type_support_struct.h",
    "rosidl_runtime_c/service_type_support_struct.h",
    "rosidl_runtime_c/type_hash.h",
];

fn has_rmw(prefix: &Path) -> bool {
    prefix.join("include/rmw/rmw/rmw.h").is_file() || prefix.join("include/rmw/rmw.h").is_file()
}

fn find_prefix() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    if let Ok(p) = env::var("RENOIR_ROS_PREFIX") {
        let p = PathBuf::from(p);
        if has_rmw(&p) {
            return Ok(p);
        }
        tried.push(format!("RENOIR_ROS_PREFIX={}", p.display()));
    }
    if let Ok(list) = env::var("AMENT_PREFIX_PATH") {
        for p in env::split_paths(&list) {
            if has_rmw(&p) {
                return Ok(p);
            }
            tried.push(format!("AMENT_PREFIX_PATH entry {}", p.display()));
        }
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    if let Some(ws) = manifest.parent() {
        let venv = ws.join(".ros-venv");
        if has_rmw(&venv) {
            return Ok(venv);
        }
        tried.push(format!("{}", venv.display()));
    }
    Err(format!(
        "rmw_renoir: no ROS 2 installation found (need include/rmw/rmw/rmw.h). Tried: {}. \
         Source a ROS 2 Jazzy setup, set RENOIR_ROS_PREFIX, or run \
         `eval \"$(scripts/ros_env.sh)\"` to install one from PyPI.",
        if tried.is_empty() {
            "nothing".to_string()
        } else {
            tried.join(", ")
        }
    ))
}

/// Include dirs: `<prefix>/include/<pkg>` (ROS 2 >= Humble layout) plus `<prefix>/include`.
fn include_dirs(prefix: &Path) -> Vec<PathBuf> {
    let inc = prefix.join("include");
    let mut dirs = vec![inc.clone()];
    if let Ok(rd) = std::fs::read_dir(&inc) {
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        dirs.extend(v);
    }
    dirs
}

fn main() {
    println!("cargo:rerun-if-env-changed=RENOIR_ROS_PREFIX");
    println!("cargo:rerun-if-env-changed=AMENT_PREFIX_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let prefix = match find_prefix() {
        Ok(p) => p,
        Err(e) => {
            // A build error with a clear message (no panic backtrace noise).
            eprintln!("{e}");
            println!("cargo:warning={e}");
            std::process::exit(1);
        }
    };

    let mut wrapper = String::new();
    for h in HEADERS {
        wrapper.push_str(&format!("#include <{h}>\n"));
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let wrapper_path = out.join("rmw_wrapper.h");
    std::fs::write(&wrapper_path, wrapper).expect("write wrapper header");

    let mut b = bindgen::Builder::default()
        .header(wrapper_path.to_string_lossy())
        .allowlist_function("rmw_.*")
        .allowlist_function("rcutils_.*")
        .allowlist_function("rosidl_.*")
        .allowlist_function("get_message_typesupport_handle.*")
        .allowlist_function("get_service_typesupport_handle.*")
        .allowlist_type("rmw_.*")
        .allowlist_type("rcutils_.*")
        .allowlist_type("rosidl_.*")
        .allowlist_type("RCUTILS_.*")
        .allowlist_var("RMW_.*")
        .allowlist_var("RCUTILS_.*")
        .allowlist_var("ROSIDL_.*")
        .allowlist_var("rmw_qos_profile_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for d in include_dirs(&prefix) {
        b = b.clang_arg(format!("-I{}", d.display()));
    }
    let bindings = b.generate().expect("bindgen over rmw headers failed");
    bindings
        .write_to_file(out.join("rmw_bindings.rs"))
        .expect("write bindings");

    let lib = prefix.join("lib");
    println!("cargo:rustc-link-search=native={}", lib.display());
    for l in ["rmw", "rcutils", "rosidl_runtime_c"] {
        println!("cargo:rustc-link-lib=dylib={l}");
    }
    // librmw & friends are found at run time through LD_LIBRARY_PATH (a sourced
    // ROS 2 or scripts/ros_env.sh). A RUNPATH to the build-time install is a
    // fallback only: LD_LIBRARY_PATH takes precedence over RUNPATH.
    println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!(
        "cargo:rustc-env=RENOIR_ROS_PREFIX_AT_BUILD={}",
        prefix.display()
    );
}
