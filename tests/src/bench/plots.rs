//! SVG plots of a run, drawn from the same JSON the run writes (so a plot
//! never shows a figure the results file lacks): CPU and memory against the
//! number of instances, and the distributions of failover and advert
//! lateness, each for the three implementations.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};
use serde_json::Value;

use super::{impls::Impl, report::quantile};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Err = Box<dyn std::error::Error>;
/// Draws one plot; false when the results have nothing for it.
type Draw<'r> = &'r dyn Fn(&Area<'_>) -> Result<bool, Err>;

/// One line of a plot: its label, colour, dashed or not, and its points.
struct Series {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

fn color(which: Impl) -> RGBColor {
    match which {
        Impl::Xdp => RGBColor(31, 119, 180),
        Impl::Socket => RGBColor(44, 160, 44),
        Impl::Keepalived => RGBColor(214, 39, 40),
    }
}

fn impl_of(entry: &Value) -> Option<Impl> {
    let key = entry["impl"].as_str()?;
    Impl::ALL.into_iter().find(|i| i.key() == key)
}

/// (quantile, value) pairs of `v` for a CDF plot: every percent, and the
/// tail at 99.5, 99.9, 99.99 % and the maximum.
pub fn cdf_points(v: &[f64]) -> Vec<(f64, f64)> {
    if v.is_empty() {
        return Vec::new();
    }
    (0..100)
        .map(|p| f64::from(p) / 100.0)
        .chain([0.995, 0.999, 0.9999, 1.0])
        .map(|q| (q, quantile(v, q)))
        .collect()
}

/// Writes every plot the results allow next to `json` (`STEM-NAME.svg`);
/// returns the files written. A plot whose data is missing is skipped; one
/// that fails to draw does not stop the others (the error names them all).
pub fn write_all(results: &Value, json: &Path) -> Result<Vec<PathBuf>, String> {
    let stem = json.file_stem().and_then(|s| s.to_str()).unwrap_or("bench");
    let raw = &results["raw"];
    let mut written = Vec::new();
    let mut errors = Vec::new();
    let mut plot = |name: &str, size: (u32, u32), draw: Draw<'_>| -> Result<(), String> {
        let path = json.with_file_name(format!("{stem}-{name}.svg"));
        let drawn = {
            let root = SVGBackend::new(&path, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let drawn = draw(&root).map_err(|e| format!("{name}: {e}"))?;
            root.present().map_err(|e| format!("{name}: {e}"))?;
            drawn
        };
        if drawn {
            written.push(path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
        Ok(())
    };
    const WIDE: (u32, u32) = (900, 520);
    let plots: [(&str, (u32, u32), Draw<'_>); 4] = [
        ("scale-cpu", WIDE, &|area| scale_cpu(area, &raw["scale"]["runs"])),
        ("scale-memory", WIDE, &|area| {
            scale_memory(area, &raw["scale"]["runs"])
        }),
        ("failover", WIDE, &|area| failover(area, &raw["failover"])),
        ("lateness", (900, 900), &|area| lateness(area, &raw["timing"])),
    ];
    for (name, size, draw) in plots {
        if let Err(e) = plot(name, size, draw) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(written)
    } else {
        Err(errors.join("; "))
    }
}

/// The 1 s series of the scale runs: (impl, n, entry) sorted by n.
fn scale_points(runs: &Value) -> Vec<(Impl, f64, &Value)> {
    let mut out: Vec<(Impl, f64, &Value)> = runs
        .as_array()
        .into_iter()
        .flatten()
        // A window that was not stable measured something else: not drawn.
        .filter(|r| r["advert_cs"] == 100 && r.get("error").is_none() && r["stable"] != false)
        .filter_map(|r| Some((impl_of(r)?, r["n"].as_f64()?, r)))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

fn per_impl(
    points: &[(Impl, f64, &Value)],
    label: &str,
    dashed: bool,
    y: impl Fn(&Value) -> Option<f64>,
) -> Vec<Series> {
    Impl::ALL
        .into_iter()
        .map(|which| Series {
            label: format!("{} {label}", which.label()),
            color: color(which),
            dashed,
            points: points
                .iter()
                .filter(|(w, _, _)| *w == which)
                .filter_map(|(_, n, r)| Some((*n, y(r)?)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn scale_cpu(area: &Area<'_>, runs: &Value) -> Result<bool, Err> {
    let points = scale_points(runs);
    // schedstat for every point: one definition (clock ticks are too coarse at small N).
    let mut series = per_impl(&points, "master", false, |r| {
        r["master"]["cpu_pct_schedstat"].as_f64()
    });
    series.extend(per_impl(&points, "backup", true, |r| {
        r["backup"]["cpu_pct_schedstat"].as_f64()
    }));
    log_log(
        area,
        "CPU against instances (1 s adverts; master solid, backup dashed; 0 drawn at the floor)",
        "virtual routers (N)",
        "% of one core (schedstat)",
        &series,
    )
}

fn scale_memory(area: &Area<'_>, runs: &Value) -> Result<bool, Err> {
    let points = scale_points(runs);
    let mib = |v: Option<f64>| v.map(|k| k / 1024.0);
    let mut series = per_impl(&points, "PSS (steady)", false, |r| {
        mib(r["master"]["pss_kib"].as_f64())
    });
    series.extend(per_impl(&points, "peak RSS", true, |r| {
        mib(r["master"]["hwm_kib"].as_f64())
    }));
    log_log(
        area,
        "Master's memory against N (PSS solid, peak RSS dashed; summed over the tree; xdp's loader not in it)",
        "virtual routers (N)",
        "MiB",
        &series,
    )
}

fn failover(area: &Area<'_>, runs: &Value) -> Result<bool, Err> {
    let runs: Vec<&Value> = runs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("error").is_none())
        .collect();
    let mut cases: Vec<u64> = runs.iter().filter_map(|r| r["advert_cs"].as_u64()).collect();
    cases.sort_unstable();
    cases.dedup();
    if cases.is_empty() {
        return Ok(false);
    }
    let panels = area.split_evenly((1, cases.len()));
    for (panel, cs) in panels.iter().zip(cases) {
        let series: Vec<Series> = runs
            .iter()
            .filter(|r| r["advert_cs"].as_u64() == Some(cs))
            .filter_map(|r| {
                let which = impl_of(r)?;
                let v: Vec<f64> = r["advert_to_garp_ms"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_f64)
                    .collect();
                Some(Series {
                    label: which.label().to_owned(),
                    color: color(which),
                    dashed: false,
                    points: cdf_points(&v).into_iter().map(|(q, ms)| (ms, q)).collect(),
                })
            })
            .collect();
        cdf(
            panel,
            &format!("Failover at {} ms: last advert -> first GARP", cs * 10),
            "ms",
            &series,
        )?;
    }
    Ok(true)
}

fn lateness(area: &Area<'_>, runs: &Value) -> Result<bool, Err> {
    let runs: Vec<&Value> = runs
        .as_array()
        .into_iter()
        .flatten()
        // One trial per implementation (the median one); older results
        // without the mark had one run each.
        .filter(|r| r.get("late_ms_cdf").is_some() && r["plotted"].as_bool() != Some(false))
        .collect();
    let mut variants: Vec<&str> = Vec::new();
    for v in runs.iter().filter_map(|r| r["variant"].as_str()) {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    if variants.is_empty() {
        return Ok(false);
    }
    // One above the other: the variants' names are long.
    let panels = area.split_evenly((variants.len(), 1));
    for (panel, variant) in panels.iter().zip(variants) {
        let series: Vec<Series> = runs
            .iter()
            .filter(|r| r["variant"].as_str() == Some(variant))
            .filter_map(|r| {
                let which = impl_of(r)?;
                // The tail matters: plotted as the fraction later than x, log scale.
                let points = r["late_ms_cdf"]
                    .as_array()?
                    .iter()
                    .filter_map(|p| Some((p[1].as_f64()?, 1.0 - p[0].as_f64()?)))
                    .filter(|&(_, above)| above > 0.0)
                    .collect();
                Some(Series {
                    label: which.label().to_owned(),
                    color: color(which),
                    dashed: false,
                    points,
                })
            })
            .collect();
        tail(panel, &format!("Advert lateness: {variant}"), "ms late", &series)?;
    }
    Ok(true)
}

fn bounds(series: &[Series], pick: impl Fn(&(f64, f64)) -> f64) -> Option<(f64, f64)> {
    let mut it = series
        .iter()
        .flat_map(|s| s.points.iter().map(&pick))
        .filter(|v| v.is_finite());
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
}

fn draw_series<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    series: &[Series],
    floor: f64,
) -> Result<(), Err>
where
    DB::ErrorType: 'static,
{
    for s in series {
        let style = ShapeStyle::from(&s.color).stroke_width(2);
        let points: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x, y.max(floor))).collect();
        let color = s.color;
        if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(points, 6, 4, style))?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        } else {
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

fn log_log(area: &Area<'_>, title: &str, x: &str, y: &str, series: &[Series]) -> Result<bool, Err> {
    let (Some((x0, x1)), Some((y0, y1))) = (bounds(series, |p| p.0), bounds(series, |p| p.1)) else {
        return Ok(false);
    };
    if y1 <= 0.0 {
        return Ok(false);
    }
    let floor = (y1 / 1e4).max(1e-4);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x0.max(1.0)..x1 * 1.2).log_scale(),
            (y0.max(floor)..y1 * 1.5).log_scale(),
        )?;
    chart.configure_mesh().x_desc(x).y_desc(y).draw()?;
    draw_series(&mut chart, series, floor)?;
    Ok(true)
}

/// A distribution panel's frame: its title and the x range of `series`,
/// padded (`None`: nothing to draw).
fn distribution_panel<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    series: &[Series],
) -> Option<(ChartBuilder<'a, 'b, SVGBackend<'b>>, std::ops::Range<f64>)> {
    let (x0, x1) = bounds(series, |p| p.0)?;
    let pad = ((x1 - x0) * 0.05).max(0.01);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, ("sans-serif", 14))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50);
    Some((builder, x0 - pad..x1 + pad))
}

/// A CDF: the fraction at or below x.
fn cdf(area: &Area<'_>, title: &str, x: &str, series: &[Series]) -> Result<(), Err> {
    let Some((mut builder, xs)) = distribution_panel(area, title, series) else {
        return Ok(());
    };
    let mut chart = builder.build_cartesian_2d(xs, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc(x)
        .y_desc("fraction at or below")
        .draw()?;
    draw_series(&mut chart, series, f64::NEG_INFINITY)?;
    Ok(())
}

/// A complementary CDF: the fraction above x on a log axis down to 1e-4.
fn tail(area: &Area<'_>, title: &str, x: &str, series: &[Series]) -> Result<(), Err> {
    let Some((mut builder, xs)) = distribution_panel(area, title, series) else {
        return Ok(());
    };
    let mut chart = builder.build_cartesian_2d(xs, (1e-4..1.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x)
        .y_desc("fraction later than x")
        .draw()?;
    draw_series(&mut chart, series, 1e-4)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn plots_are_drawn_from_the_results_and_skipped_without_data() {
        let dir = std::env::temp_dir().join(format!("xvrrp-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |which: &str, n: u64, cpu: f64| {
            json!({"impl": which, "n": n, "advert_cs": 100,
                   "master": {"cpu_pct_schedstat": cpu, "pss_kib": 8000.0 + n as f64, "hwm_kib": 10000.0 + n as f64},
                   "backup": {"cpu_pct_schedstat": cpu / 10.0}})
        };
        let results = json!({"raw": {
            "scale": {"runs": [run("xvrrpd_xdp", 1, 0.01), run("xvrrpd_xdp", 1000, 0.3), run("keepalived", 1, 0.02), run("keepalived", 1000, 2.9)]},
            "failover": [{"impl": "keepalived", "advert_cs": 5, "advert_to_garp_ms": [180.0, 182.0, 181.5]}],
        }});
        let written = super::write_all(&results, &dir.join("run.json")).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["run-scale-cpu.svg", "run-scale-memory.svg", "run-failover.svg"]
        );
        let svg = std::fs::read_to_string(&written[0]).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("keepalived 2.2.7 master"),
            "{svg}"
        );
        assert!(!dir.join("run-lateness.svg").exists(), "no timing data: no plot");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cdf_points_end_at_the_maximum() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = super::cdf_points(&v);
        assert_eq!(p.first(), Some(&(0.0, 1.0)));
        assert_eq!(p.last(), Some(&(1.0, 1000.0)));
        assert!(p.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
