//! Same-process publish+take cost per sample (no scheduler in the way):
//! `cargo run -p renoir_core --release --example overhead`.
use renoir_core::registry::Domain;
use renoir_core::topic::{Qos, TopicSpec};
use std::time::Instant;

fn main() {
    let d = Domain::join(std::process::id() % 1000 + 5000).unwrap();
    let n = d.add_node("o", "/", "").unwrap();
    for (name, q) in [
        ("keep_last(10)", Qos::reliable(10)),
        ("keep_all", Qos::keep_all_reliable()),
    ] {
        let p = d
            .create_publisher(&n, TopicSpec::new("/o", "T", q))
            .unwrap();
        let s = d
            .create_subscriber(&n, TopicSpec::new("/o", "T", q))
            .unwrap();
        for size in [64usize, 4096] {
            let iters = 200_000u32;
            let t = Instant::now();
            for i in 0..iters {
                let mut m = p.loan(size).unwrap();
                m[0] = i as u8;
                p.publish(m, 0).unwrap();
                let x = s.take().unwrap().unwrap();
                assert_eq!(x[0], i as u8);
            }
            let per = t.elapsed().as_nanos() as f64 / iters as f64;
            println!("{name:>14} {size:>5} B: loan+publish+take+drop {per:.0} ns");
        }
    }
}
