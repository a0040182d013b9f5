//! The soak's samples as an SVG: memory and open files above, what the server holds below,
//! against time. A flat top panel under constant churn is what "nothing leaks" looks like.

use crate::soak::sample::Sample;
use plotters::prelude::*;
use std::path::Path;

/// Draws `samples` into an SVG at `path`; `title` names the run.
pub fn soak_svg(path: &Path, title: &str, samples: &[Sample]) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|x| e(&x))?;
    let (top, bottom) = root.split_vertically(340);
    let end = samples.last().map_or(1.0, |s| s.secs).max(1.0);

    let rss_max = samples.iter().map(|s| s.rss_mb).fold(1.0, f64::max) * 1.15;
    let files_max = samples.iter().map(|s| s.open_files).max().unwrap_or(1) as f64 * 1.15;
    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .caption("server memory and open files", ("sans-serif", 16))
        .build_cartesian_2d(0.0..end, 0.0..rss_max)
        .map_err(|x| e(&x))?
        .set_secondary_coord(0.0..end, 0.0..files_max);
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("RSS, MB")
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .configure_secondary_axes()
        .y_desc("open files")
        .draw()
        .map_err(|x| e(&x))?;
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (s.secs, s.rss_mb)),
            RED.stroke_width(2),
        ))
        .map_err(|x| e(&x))?
        .label("RSS, MB")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .draw_secondary_series(LineSeries::new(
            samples.iter().map(|s| (s.secs, s.open_files as f64)),
            BLUE.stroke_width(2),
        ))
        .map_err(|x| e(&x))?
        .label("open files")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    legend(&mut chart, SeriesLabelPosition::LowerRight).map_err(|x| e(&x))?;

    type Read = fn(&Sample) -> u64;
    let lines: [(&str, Read, RGBColor); 4] = [
        ("participants", |s| s.counts.participants, BLACK),
        ("sessions", |s| s.counts.sessions, GREEN),
        ("tracks", |s| s.counts.tracks, MAGENTA),
        ("subscriptions", |s| s.counts.subscriptions, CYAN),
    ];
    let count_max = samples
        .iter()
        .flat_map(|s| lines.iter().map(move |(_, f, _)| f(s)))
        .max()
        .unwrap_or(1) as f64
        * 1.15;
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .caption("what the server holds", ("sans-serif", 16))
        .build_cartesian_2d(0.0..end, 0.0..count_max.max(1.0))
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|x| e(&x))?;
    for (name, read, color) in lines {
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|s| (s.secs, read(s) as f64)),
                color.stroke_width(2),
            ))
            .map_err(|x| e(&x))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))
}

/// The chart's legend box, where it hides the least.
fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    at: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(at)
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::sample::Counts;

    #[test]
    fn draws_every_series_into_an_svg() {
        let samples: Vec<Sample> = (0..7)
            .map(|i| Sample {
                secs: 10.0 * f64::from(i),
                rss_mb: 20.0 + f64::from(i),
                open_files: 30,
                members: 20,
                counts: Counts {
                    participants: 20,
                    sessions: 20,
                    tracks: 40,
                    subscriptions: 80,
                    ..Counts::default()
                },
            })
            .collect();
        let path = std::env::temp_dir().join(format!("soak-plot-{}.svg", std::process::id()));
        soak_svg(&path, "test", &samples).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        for label in ["RSS, MB", "open files", "sessions", "subscriptions"] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert!(svg.matches("<polyline").count() >= 6);
        // The caption, the secondary axis and the legend: the secondary series is in it.
        assert_eq!(svg.matches("open files").count(), 3);
    }
}
