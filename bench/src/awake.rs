//! Keeping idle CPUs awake during a measurement (`--keep-cpus-awake`).
//!
//! Why: in a virtual machine, an idle vCPU halts and the host deschedules
//! it; the guest scheduler then sees it as "preempted" and, when a
//! publisher wakes a subscriber, queues the subscriber on the publisher's
//! own busy CPU instead (measured here: 0.9 ms of scheduling delay behind a
//! 6 MB publish while the other vCPU idled). Bare-metal latency setups
//! avoid deep idle states with `idle=poll` or `cpupower idle-set`; this is
//! the unprivileged equivalent: one `SCHED_IDLE` spinner pinned to each
//! CPU. `SCHED_IDLE` threads run only when nothing else wants the CPU and
//! yield to any wakeup at once, so the CPU counts as idle for placement
//! while its vCPU stays running. It applies to every rmw of a run alike
//! and is recorded in the results' machine line; CPU per message is
//! measured per benchmark process, so the spinners do not count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Spinner threads; stopped and joined on drop.
pub struct KeepAwake {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl KeepAwake {
    /// One spinner per online CPU; `None` if the OS refuses SCHED_IDLE.
    pub fn start() -> Option<KeepAwake> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for cpu in 0..n {
            let flag = stop.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            threads.push(std::thread::spawn(move || {
                let ok = pin_idle(cpu);
                let _ = tx.send(ok);
                if !ok {
                    return;
                }
                while !flag.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }));
            if rx.recv() != Ok(true) {
                let k = KeepAwake { stop, threads };
                drop(k);
                return None;
            }
        }
        Some(KeepAwake { stop, threads })
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Pin the calling thread to `cpu` with policy SCHED_IDLE.
fn pin_idle(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
    // inside it (cpu < CPU_SETSIZE checked).
    let set_ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling thread with a valid param.
    let idle_ok = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
    set_ok && idle_ok
}
