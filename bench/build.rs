//! Builds the C benchmark program `rcl_bench` against the ROS 2 rcl found
//! on this machine, into OUT_DIR, and tells the driver where it is
//! (`RENOIR_BENCH_RCL_EXE`) and which library folders it needs at run time
//! (`RENOIR_BENCH_ROS_LIBS`).
//!
//! ROS 2 is looked up in this order: `RENOIR_ROS_PREFIX` (what
//! `scripts/ros_env.sh` exports), each entry of `AMENT_PREFIX_PATH`, and the
//! repository's own `.ros-venv`. Without one the build fails with a message
//! that says how to get one.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const C_SOURCE: &str = "c/rcl_bench.c";

fn main() {
    println!("cargo:rerun-if-changed={C_SOURCE}");
    println!("cargo:rerun-if-changed=build.rs");
    for v in ["RENOIR_ROS_PREFIX", "RENOIR_ROS_LIBS", "AMENT_PREFIX_PATH"] {
        println!("cargo:rerun-if-env-changed={v}");
    }

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let prefix = find_ros(&manifest).unwrap_or_else(|| {
        panic!(
            "\n\nrenoir_bench: no ROS 2 found (looked for include/rcl/rcl/rcl.h under \
             $RENOIR_ROS_PREFIX, each $AMENT_PREFIX_PATH entry and {}/../.ros-venv).\n\
             Install or locate ROS 2 Jazzy with:  eval \"$(scripts/ros_env.sh)\"\n\
             then build again:  cargo build --release -p renoir_bench\n\n",
            manifest.display()
        )
    });
    let lib_dirs = lib_dirs(&prefix);
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let exe = out.join("rcl_bench");

    let compiler = cc::Build::new()
        .opt_level(2)
        .cargo_metadata(false)
        .get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(["-std=c11", "-O2", "-g", "-Wall", "-Wextra"]);
    // ROS headers live in include/<pkg>/<pkg>/... (newer layout) or
    // include/<pkg>/... (older); -isystem keeps their warnings out of ours.
    let inc = prefix.join("include");
    cmd.arg("-isystem").arg(&inc);
    if let Ok(rd) = std::fs::read_dir(&inc) {
        let mut dirs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            cmd.arg("-isystem").arg(d);
        }
    }
    cmd.arg(manifest.join(C_SOURCE)).arg("-o").arg(&exe);
    for d in &lib_dirs {
        cmd.arg(format!("-L{}", d.display()));
    }
    // librcl in the PyPI wheels references libraries that are only found
    // through -rpath-link, and some are needed although no symbol of ours
    // comes from them: --no-as-needed keeps them (design notes, section 5).
    cmd.arg("-Wl,--no-as-needed");
    for lib in [
        "rcl",
        "rcutils",
        "rmw",
        "rosidl_runtime_c",
        "std_msgs__rosidl_typesupport_c",
        "std_msgs__rosidl_generator_c",
        "sensor_msgs__rosidl_typesupport_c",
        "sensor_msgs__rosidl_generator_c",
    ] {
        cmd.arg(format!("-l{lib}"));
    }
    if let Some(py) = find_libpython(&prefix) {
        cmd.arg(py);
    }
    for d in &lib_dirs {
        cmd.arg(format!("-Wl,-rpath-link,{}", d.display()));
    }

    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("renoir_bench: cannot run the C compiler {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines() {
        println!("cargo:warning=rcl_bench.c: {line}");
    }
    if !output.status.success() {
        panic!(
            "\n\nrenoir_bench: compiling {C_SOURCE} against ROS 2 at {} failed:\n{cmd:?}\n{stderr}\n\
             (librcl from PyPI also needs Debian's libpython3.11: scripts/setup.sh installs it)\n",
            prefix.display()
        );
    }

    let libs = env::join_paths(&lib_dirs).expect("library path");
    println!("cargo:rustc-env=RENOIR_BENCH_RCL_EXE={}", exe.display());
    println!(
        "cargo:rustc-env=RENOIR_BENCH_ROS_LIBS={}",
        libs.to_string_lossy()
    );
    println!(
        "cargo:rustc-env=RENOIR_BENCH_ROS_PREFIX={}",
        prefix.display()
    );
}

fn has_rcl(p: &Path) -> bool {
    p.join("include/rcl/rcl/rcl.h").is_file() || p.join("include/rcl/rcl.h").is_file()
}

fn find_ros(manifest: &Path) -> Option<PathBuf> {
    if let Some(p) = env::var_os("RENOIR_ROS_PREFIX").map(PathBuf::from) {
        if has_rcl(&p) {
            return Some(p);
        }
    }
    if let Some(app) = env::var_os("AMENT_PREFIX_PATH") {
        for p in env::split_paths(&app) {
            if has_rcl(&p) {
                return Some(p);
            }
        }
    }
    let venv = manifest.join("../.ros-venv");
    has_rcl(&venv).then(|| venv.canonicalize().unwrap_or(venv))
}

/// `<prefix>/lib`, the wheels' `ros_*.libs` folders, and whatever
/// `RENOIR_ROS_LIBS` names; no duplicates, order kept.
fn lib_dirs(prefix: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![prefix.join("lib")];
    if let Some(extra) = env::var_os("RENOIR_ROS_LIBS") {
        dirs.extend(env::split_paths(&extra));
    }
    if let Ok(rd) = std::fs::read_dir(prefix.join("lib")) {
        for e in rd.flatten() {
            let site = e.path().join("site-packages");
            if let Ok(rd2) = std::fs::read_dir(&site) {
                let mut more: Vec<PathBuf> = rd2
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_dir()
                            && p.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.starts_with("ros_") && n.ends_with(".libs"))
                    })
                    .collect();
                more.sort();
                dirs.extend(more);
            }
        }
    }
    let mut seen = Vec::new();
    for d in dirs {
        if d.is_dir() && !seen.contains(&d) {
            seen.push(d);
        }
    }
    seen
}

/// The PyPI librcl pulls in Python-binding libraries: link a libpython of
/// the venv's Python version when one exists (a normal ROS install does not
/// need it; then nothing is added).
fn find_libpython(prefix: &Path) -> Option<String> {
    if !prefix.join("pyvenv.cfg").is_file() {
        return None;
    }
    let mut versions: Vec<String> = std::fs::read_dir(prefix.join("lib"))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("python3."))
        .map(|n| n.trim_start_matches("python").to_owned())
        .collect();
    versions.sort();
    let multiarch = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut lib_dirs = vec![PathBuf::from("/usr/lib"), PathBuf::from("/usr/local/lib")];
    if !multiarch.is_empty() {
        lib_dirs.insert(0, PathBuf::from("/usr/lib").join(&multiarch));
    }
    for v in versions.iter().rev() {
        for d in &lib_dirs {
            for name in [format!("libpython{v}.so.1.0"), format!("libpython{v}.so")] {
                if d.join(&name).exists() {
                    return Some(format!("-l:{name}"));
                }
            }
        }
    }
    println!(
        "cargo:warning=renoir_bench: no libpython{} found; linking rcl_bench may fail \
         (scripts/setup.sh installs Debian's libpython3.11)",
        versions.last().map(String::as_str).unwrap_or("3")
    );
    None
}
