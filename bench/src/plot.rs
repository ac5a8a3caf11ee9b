//! PNG plots drawn with plotters: latency vs message size (log-log, one line
//! per rmw plus memcpy) and CPU time per message vs size.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::report::{
    fmt_bytes, sweep_row, MemcpyRow, Row, NATIVE_COPY, NATIVE_LOAN, PEER, RENOIR, SERIES,
};

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn find_ttf(dir: &Path, depth: usize) -> Option<PathBuf> {
    let rd = std::fs::read_dir(dir).ok()?;
    let mut subdirs = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            subdirs.push(p);
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("ttf")) {
            return Some(p);
        }
    }
    if depth == 0 {
        return None;
    }
    subdirs.into_iter().find_map(|d| find_ttf(&d, depth - 1))
}

/// plotters (ab_glyph) draws text only with a registered font: use a system
/// TrueType font found at run time (none is shipped with the crate).
fn load_font() -> Result<(), String> {
    let path = FONT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| find_ttf(Path::new("/usr/share/fonts"), 3))
        .ok_or("no TrueType font under /usr/share/fonts (apt-get install fonts-dejavu-core)")?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    for style in [FontStyle::Normal, FontStyle::Bold] {
        register_font("sans-serif", style, bytes)
            .map_err(|_| format!("{}: not a usable font", path.display()))?;
    }
    Ok(())
}

fn color(rmw: &str) -> RGBColor {
    match rmw {
        RENOIR => RGBColor(200, 40, 40),
        PEER => RGBColor(30, 90, 200),
        "memcpy" => RGBColor(90, 90, 90),
        _ => RGBColor(20, 150, 60),
    }
}

struct Series {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
    thin: bool,
}

fn draw(
    path: &Path,
    title: &str,
    subtitle: &str,
    y_desc: &str,
    y_fmt: &dyn Fn(&f64) -> String,
    series: &[Series],
) -> Result<(), String> {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| *x > 0.0 && *y > 0.0 && y.is_finite())
        .collect();
    if all.is_empty() {
        return Err(format!("{}: no data", path.display()));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, 0.0f64, f64::MAX, 0.0f64);
    for (x, y) in &all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let (x0, x1, y0, y1) = (x0 / 2.0, x1 * 2.0, y0 / 2.0, y1 * 2.0);
    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    let e = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (top, body) = root.split_vertically(60);
    top.draw(&Text::new(
        title.to_owned(),
        (20, 8),
        ("sans-serif", 22).into_font(),
    ))
    .map_err(|x| e(&x))?;
    top.draw(&Text::new(
        subtitle.to_owned(),
        (20, 36),
        ("sans-serif", 13).into_font().color(&RGBColor(80, 80, 80)),
    ))
    .map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&body)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("payload size")
        .y_desc(y_desc)
        .x_label_formatter(&|v| fmt_bytes(*v as usize))
        .y_label_formatter(y_fmt)
        .draw()
        .map_err(|x| e(&x))?;
    for s in series {
        let mut pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| *x > 0.0 && *y > 0.0 && y.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = s.color;
        let style = if s.thin {
            c.mix(0.45).stroke_width(1)
        } else {
            c.stroke_width(2)
        };
        if pts.is_empty() {
            // Still in the legend, so a missing series (e.g. a loaned take
            // the rmw refused) is visible as missing, not silently absent.
            chart
                .draw_series(LineSeries::new(Vec::<(f64, f64)>::new(), style))
                .map_err(|x| e(&x))?
                .label(format!(
                    "{}: no data (n/a or failed, see the table)",
                    s.name
                ))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            continue;
        }
        chart
            .draw_series(LineSeries::new(pts.clone(), style))
            .map_err(|x| e(&x))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if !s.thin {
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                .map_err(|x| e(&x))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// One line of the size sweep (30 Hz, 1 subscriber): `f` of each message's
/// row of that rmw and take.
fn sweep_points(
    rows: &[Row],
    rmw: &str,
    take: &str,
    f: fn(&crate::report::RepeatStats) -> f64,
) -> Vec<(f64, f64)> {
    crate::config::SWEEP
        .iter()
        .filter_map(|k| sweep_row(rows, k, rmw, take))
        .filter_map(|r| r.median.as_ref().map(|m| (r.payload_bytes as f64, f(m))))
        .collect()
}

/// Whether the plan ran this series at all (a series that ran and has no
/// data stays in the legend as such; one that was not in the plan is left out).
fn has_rows(rows: &[Row], s: &Series) -> bool {
    SERIES.iter().any(|(label, rmw, take)| {
        s.name.starts_with(label)
            && crate::config::SWEEP
                .iter()
                .any(|k| sweep_row(rows, k, rmw, take).is_some())
    })
}

fn series_color(rmw: &str, take: &str) -> RGBColor {
    match (rmw, take) {
        (RENOIR, "loan") => RGBColor(20, 150, 60),
        (RENOIR, NATIVE_LOAN) => RGBColor(130, 50, 180),
        (RENOIR, NATIVE_COPY) => RGBColor(230, 140, 20),
        _ => color(rmw),
    }
}

pub fn plots(
    rows: &[Row],
    mem: &[MemcpyRow],
    dir: &Path,
    machine: &str,
) -> Result<Vec<PathBuf>, String> {
    load_font()?;
    let mut files = Vec::new();
    let rmws: Vec<String> = rows.iter().fold(Vec::new(), |mut acc, r| {
        if !acc.contains(&r.rmw) {
            acc.push(r.rmw.clone());
        }
        acc
    });

    // The sweep series (rmw_renoir copy and loan, native publisher + loan and
    // + copy, rmw_fastrtps_cpp copy), p50 bold; memcpy of the payload thin, as the physical scale.
    let mut lat: Vec<Series> = SERIES
        .iter()
        .map(|(label, rmw, take)| Series {
            name: format!("{label} p50"),
            color: series_color(rmw, take),
            points: sweep_points(rows, rmw, take, |m| m.p50_us),
            thin: false,
        })
        .filter(|s| has_rows(rows, s))
        .collect();
    // Where a loaned take's latency goes: the take call itself, thin.
    let call = Series {
        name: "rmw_renoir loaned take: the take call alone, p50".into(),
        color: series_color(RENOIR, "loan"),
        points: sweep_points(rows, RENOIR, "loan", |m| m.take_call_p50_us),
        thin: true,
    };
    if has_rows(rows, &call) {
        lat.push(call);
    }
    lat.push(Series {
        name: "memcpy of the payload (reference)".into(),
        color: color("memcpy"),
        points: mem
            .iter()
            .map(|m| (m.payload_bytes as f64, m.p50_us))
            .collect(),
        thin: true,
    });
    let p = dir.join("latency_vs_size.png");
    draw(
        &p,
        "publish -> take latency p50 vs payload size (30 Hz, 1 subscriber)",
        machine,
        "latency",
        &|v| crate::report::fmt_us(*v),
        &lat,
    )?;
    files.push(p);

    let cpu: Vec<Series> = SERIES
        .iter()
        .map(|(label, rmw, take)| Series {
            name: (*label).to_owned(),
            color: series_color(rmw, take),
            points: sweep_points(rows, rmw, take, |m| m.cpu_per_msg_us),
            thin: false,
        })
        .filter(|s| has_rows(rows, s))
        .collect();
    let p = dir.join("cpu_per_msg.png");
    draw(
        &p,
        "rmw CPU per message: pub + sub, harness excluded (30 Hz, 1 subscriber)",
        machine,
        "CPU per message",
        &|v| crate::report::fmt_us(*v),
        &cpu,
    )?;
    files.push(p);

    // Flat-out throughput, 1 subscriber, copy take (MB/s taken).
    let flat: Vec<&Row> = rows
        .iter()
        .filter(|r| r.rate == "max" && r.subs == 1 && r.take == "copy" && r.median.is_some())
        .collect();
    if !flat.is_empty() {
        let mut tp: Vec<Series> = rmws
            .iter()
            .chain(flat.iter().map(|r| &r.rmw))
            .fold(Vec::<String>::new(), |mut acc, n| {
                if !acc.contains(n) {
                    acc.push(n.clone());
                }
                acc
            })
            .into_iter()
            .map(|rmw| Series {
                color: color(&rmw),
                points: flat
                    .iter()
                    .filter(|r| r.rmw == rmw)
                    .filter_map(|r| {
                        r.median
                            .as_ref()
                            .map(|m| (r.payload_bytes as f64, m.mb_per_s))
                    })
                    .collect(),
                name: rmw,
                thin: false,
            })
            .collect();
        tp.push(Series {
            name: "memcpy".into(),
            color: color("memcpy"),
            points: mem
                .iter()
                .map(|m| (m.payload_bytes as f64, m.gb_per_s * 1000.0))
                .collect(),
            thin: true,
        });
        let p = dir.join("throughput_vs_size.png");
        draw(
            &p,
            "flat-out throughput taken by 1 subscriber (copy take, keep last 10)",
            machine,
            "MB/s",
            &|v| {
                if *v >= 1000.0 {
                    format!("{:.1} GB/s", v / 1000.0)
                } else if *v >= 1.0 {
                    format!("{v:.0} MB/s")
                } else {
                    format!("{v:.3} MB/s")
                }
            },
            &tp,
        )?;
        files.push(p);
    }
    Ok(files)
}
