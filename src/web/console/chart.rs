//! Chart geometry, pure: values in, coordinates and labels out. The templates draw them as
//! SVG, so every label (a tool's name, a source) goes through the template's escaping.

/// Drawing area, in SVG user units.
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Colours of successive series.
const COLOURS: &[&str] = &["#2186eb", "#f0b429", "#3ebd93", "#e12d39"];

/// A label at a position on an axis.
pub struct Tick {
    pub at: String,
    pub label: String,
}

/// One point, with the text shown on hover.
pub struct Dot {
    pub x: String,
    pub y: String,
    pub title: String,
}

/// One line.
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub points: String,
    pub dots: Vec<Dot>,
}

/// A line chart over dates.
pub struct LineChart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub bottom: f64,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub series: Vec<Series>,
}

/// The smallest 1, 2 or 5 × 10^k at least `x`.
fn nice(x: f64) -> f64 {
    let mut base = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if base * m >= x {
                return base * m;
            }
        }
        base *= 10.0;
    }
}

fn coord(v: f64) -> String {
    format!("{v:.1}")
}

/// Lays out `series` (name, one value per date) over `dates`.
pub fn line_chart(dates: &[String], series: &[(&str, Vec<u64>)]) -> LineChart {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0);
    let step = nice((max as f64 / 4.0).max(1.0));
    let top_value = step * 4.0;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let bottom = HEIGHT - BOTTOM;
    let y = |v: f64| bottom - v / top_value * plot_h;
    let gap = plot_w / (dates.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + i as f64 * gap;
    let y_ticks = (0..=4)
        .map(|k| {
            let v = step * f64::from(k);
            Tick {
                at: coord(y(v)),
                label: format!("{v}"),
            }
        })
        .collect();
    let every = dates.len().div_ceil(8).max(1);
    let x_ticks = dates
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, d)| Tick {
            at: coord(x(i)),
            label: d.get(5..).unwrap_or(d).to_string(),
        })
        .collect();
    let series = series
        .iter()
        .zip(COLOURS.iter().cycle())
        .map(|((name, values), colour)| {
            let pts: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (x(i), y(*v as f64)))
                .collect();
            Series {
                name: name.to_string(),
                colour,
                points: pts
                    .iter()
                    .map(|(a, b)| format!("{a:.1},{b:.1}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                dots: pts
                    .iter()
                    .zip(values.iter().zip(dates))
                    .map(|((a, b), (v, d))| Dot {
                        x: coord(*a),
                        y: coord(*b),
                        title: format!("{d} · {name}: {v}"),
                    })
                    .collect(),
            }
        })
        .collect();
    LineChart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: WIDTH - RIGHT,
        bottom,
        y_ticks,
        x_ticks,
        series,
    }
}

/// One bar of a horizontal bar chart.
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub y: String,
    pub text_y: String,
    pub width: String,
}

/// Horizontal bars, one per label, longest first.
pub struct BarChart {
    pub height: f64,
    pub bars: Vec<Bar>,
}

/// Lays out bars for (label, value) pairs.
pub fn bar_chart(mut items: Vec<(String, u64)>) -> BarChart {
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1) as f64;
    let bars = items
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let top = 4.0 + i as f64 * 24.0;
            Bar {
                label,
                value,
                y: coord(top),
                text_y: coord(top + 14.0),
                width: coord((value as f64 / max * 600.0).max(1.0)),
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        height: 8.0 + bars.len() as f64 * 24.0,
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_reaches_a_round_number_above_the_largest_value() {
        assert_eq!(nice(1.0), 1.0);
        assert_eq!(nice(1.5), 2.0);
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(26.0), 50.0);
        let chart = line_chart(
            &["2026-11-01".into(), "2026-11-02".into()],
            &[("messages", vec![3, 17])],
        );
        assert_eq!(chart.y_ticks.last().unwrap().label, "20");
        assert_eq!(chart.series[0].dots[1].title, "2026-11-02 · messages: 17");
        assert_eq!(chart.x_ticks[0].label, "11-01");
    }

    #[test]
    fn bars_are_longest_first() {
        let chart = bar_chart(vec![("slack".into(), 2), ("web".into(), 8)]);
        assert_eq!(chart.bars[0].label, "web");
        assert_eq!(chart.bars[0].width, "600.0");
    }
}
