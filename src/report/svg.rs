//! Chart primitives for `report.html`: axes with tick labels, grid lines, lines, steps, bars
//! and ticks, drawn as inline SVG (no scripts, no external assets). Every data series is one
//! `<path class="series" d="M...">`, so a test can check that a chart holds data.

use std::fmt::Write as _;

/// Series colours (Tableau 10): distinct, colour-blind-friendlier than a rainbow, and the
/// same hop keeps the same colour in every chart and table.
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How data values map onto an axis.
#[derive(Copy, Clone, Debug)]
pub enum Scale {
    Linear {
        min: f64,
        max: f64,
    },
    /// Base-10 logarithmic; `min` > 0.
    Log10 {
        min: f64,
        max: f64,
    },
}

impl Scale {
    /// Position of `v` along the axis, 0 at `min` and 1 at `max` (clamped).
    pub fn frac(self, v: f64) -> f64 {
        let f = match self {
            Scale::Linear { min, max } => {
                if max > min {
                    (v - min) / (max - min)
                } else {
                    0.5
                }
            }
            Scale::Log10 { min, max } => {
                let (lo, hi) = (min.max(f64::MIN_POSITIVE).log10(), max.log10());
                if hi > lo {
                    (v.max(min).log10() - lo) / (hi - lo)
                } else {
                    0.5
                }
            }
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// An axis: its scale, labelled ticks (value, text) and a title with the unit.
pub struct Axis {
    pub scale: Scale,
    pub ticks: Vec<(f64, String)>,
    pub label: String,
}

/// A round step near `span / target` (1, 2 or 5 times a power of ten).
pub fn nice_step(span: f64, target: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// A linear axis from `min` up to `max` rounded up to a nice step, with ~`target` ticks
/// labelled by `fmt`.
pub fn linear_axis(
    min: f64,
    max: f64,
    target: usize,
    label: &str,
    fmt: impl Fn(f64) -> String,
) -> Axis {
    let max = if max > min { max } else { min + 1.0 };
    let step = nice_step(max - min, target);
    let top = (max / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut v = (min / step).ceil() * step;
    while v <= top + step * 1e-9 {
        ticks.push((v, fmt(v)));
        v += step;
    }
    Axis {
        scale: Scale::Linear { min, max: top },
        ticks,
        label: label.to_string(),
    }
}

/// A log axis over whole decades covering `min..=max` (both > 0), a tick per decade.
pub fn log_axis(min: f64, max: f64, label: &str, fmt: impl Fn(f64) -> String) -> Axis {
    let lo = min.max(1e-9).log10().floor() as i32;
    let hi = (max.max(min * 10.0).log10().ceil() as i32).max(lo + 1);
    let ticks = (lo..=hi)
        .map(|e| {
            let v = 10f64.powi(e);
            (v, fmt(v))
        })
        .collect();
    Axis {
        scale: Scale::Log10 {
            min: 10f64.powi(lo),
            max: 10f64.powi(hi),
        },
        ticks,
        label: label.to_string(),
    }
}

/// How a series is drawn.
#[derive(Copy, Clone, Debug)]
pub enum Mark {
    /// Straight segments through the points.
    Line,
    /// Horizontal then vertical segments: a value that holds until the next point.
    Step,
    /// A bar from 0 (or the axis minimum) up to each point, `width` in x units, shifted by
    /// `offset` (grouped bars).
    Bars { width: f64, offset: f64 },
    /// A short vertical tick at each point, `height` in y units (timelines).
    Ticks { height: f64 },
}

/// One named, coloured data series.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

/// A chart: two axes and its series. Renders to one responsive `<svg>`.
pub struct Chart {
    /// Accessible name of the chart (`aria-label`).
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    /// Drawing size in SVG units; the element scales to its container's width.
    pub width: f64,
    pub height: f64,
    /// Left margin, wide enough for the y tick labels.
    pub left: f64,
}

const TOP: f64 = 14.0;
const RIGHT: f64 = 36.0;
const BOTTOM: f64 = 46.0;

impl Chart {
    pub fn new(title: &str, x: Axis, y: Axis, series: Vec<Series>) -> Chart {
        Chart {
            title: title.to_string(),
            x,
            y,
            series,
            width: 960.0,
            height: 340.0,
            left: 72.0,
        }
    }

    fn px(&self, v: f64) -> f64 {
        self.left + self.x.scale.frac(v) * (self.width - self.left - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        self.height - BOTTOM - self.y.scale.frac(v) * (self.height - BOTTOM - TOP)
    }

    /// The SVG element.
    pub fn render(&self) -> String {
        let (w, h) = (self.width, self.height);
        let (x0, x1) = (self.left, w - RIGHT);
        let (y0, y1) = (h - BOTTOM, TOP);
        let mut s = String::new();
        // `write!` to a String cannot fail; results are ignored for that reason.
        let _ = write!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" \
             xmlns=\"http://www.w3.org/2000/svg\">",
            esc(&self.title)
        );
        // Grid and tick labels.
        s.push_str("<g class=\"grid\">");
        for (v, label) in &self.y.ticks {
            let y = self.py(*v);
            let _ = write!(
                s,
                "<line x1=\"{x0:.1}\" x2=\"{x1:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
                 <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                x0 - 8.0,
                y + 4.0,
                esc(label)
            );
        }
        for (v, label) in &self.x.ticks {
            let x = self.px(*v);
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y0:.1}\" y2=\"{y1:.1}\"/>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y0 + 18.0,
                esc(label)
            );
        }
        s.push_str("</g>");
        let _ = write!(
            s,
            "<path class=\"axis\" d=\"M{x0:.1} {y1:.1}V{y0:.1}H{x1:.1}\"/>\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"label\" transform=\"translate(14 {:.1}) rotate(-90)\" \
             text-anchor=\"middle\">{}</text>",
            (x0 + x1) / 2.0,
            h - 6.0,
            esc(&self.x.label),
            (y0 + y1) / 2.0,
            esc(&self.y.label)
        );
        for series in &self.series {
            let d = self.path(series);
            if d.is_empty() {
                continue;
            }
            let fill = matches!(series.mark, Mark::Bars { .. });
            let _ = write!(
                s,
                "<path class=\"series\" d=\"{d}\" {}=\"{}\"><title>{}</title></path>",
                if fill { "fill" } else { "stroke" },
                series.color,
                esc(&series.name)
            );
        }
        s.push_str("</svg>");
        s
    }

    /// The path data of one series ("" if it has no points).
    fn path(&self, series: &Series) -> String {
        let mut d = String::new();
        let base = match self.y.scale {
            Scale::Linear { min, .. } | Scale::Log10 { min, .. } => min,
        };
        for (i, &(x, y)) in series.points.iter().enumerate() {
            let (px, py) = (self.px(x), self.py(y));
            match series.mark {
                Mark::Line => {
                    let _ = write!(d, "{}{px:.1} {py:.1}", if i == 0 { "M" } else { "L" });
                }
                Mark::Step => {
                    if i == 0 {
                        let _ = write!(d, "M{px:.1} {py:.1}");
                    } else {
                        let _ = write!(d, "H{px:.1}V{py:.1}");
                    }
                }
                Mark::Bars { width, offset } => {
                    let (a, b) = (
                        self.px(x + offset - width / 2.0),
                        self.px(x + offset + width / 2.0),
                    );
                    let _ = write!(d, "M{a:.1} {:.1}H{b:.1}V{py:.1}H{a:.1}Z", self.py(base));
                }
                Mark::Ticks { height } => {
                    let (top, bottom) = (self.py(y + height / 2.0), self.py(y - height / 2.0));
                    let _ = write!(d, "M{px:.1} {bottom:.1}V{top:.1}");
                }
            }
        }
        d
    }
}

/// A legend: one swatch and name per entry, as HTML (it wraps with the page width).
pub fn legend(entries: &[(&str, &str)]) -> String {
    let mut s = String::from("<ul class=\"legend\">");
    for (name, color) in entries {
        let _ = write!(
            s,
            "<li><span class=\"swatch\" style=\"background:{color}\"></span>{}</li>",
            esc(name)
        );
    }
    s.push_str("</ul>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn nice_steps_and_axes() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(7.0, 5), 2.0);
        assert_eq!(nice_step(0.0, 5), 1.0);
        let a = linear_axis(0.0, 93.0, 5, "x", |v| format!("{v}"));
        assert_eq!(a.ticks.first().map(|t| t.0), Some(0.0));
        assert_eq!(a.ticks.last().map(|t| t.0), Some(100.0));
        let l = log_axis(850.0, 120_000.0, "y", |v| format!("{v}"));
        let vals: Vec<f64> = l.ticks.iter().map(|t| t.0).collect();
        assert_eq!(vals, [100.0, 1000.0, 10_000.0, 100_000.0, 1_000_000.0]);
        assert_eq!(l.scale.frac(100.0), 0.0);
        assert_eq!(l.scale.frac(1_000_000.0), 1.0);
    }

    #[test]
    fn series_become_paths_with_data() {
        let c = Chart::new(
            "t <1>",
            linear_axis(0.0, 10.0, 5, "s", |v| format!("{v}")),
            linear_axis(0.0, 10.0, 5, "n", |v| format!("{v}")),
            vec![
                Series {
                    name: "a".into(),
                    color: PALETTE[0],
                    points: vec![(0.0, 1.0), (5.0, 4.0)],
                    mark: Mark::Line,
                },
                Series {
                    name: "empty".into(),
                    color: PALETTE[1],
                    points: vec![],
                    mark: Mark::Line,
                },
            ],
        );
        let svg = c.render();
        assert!(svg.contains("aria-label=\"t &lt;1&gt;\""), "{svg}");
        assert_eq!(svg.matches("<path class=\"series\" d=\"M").count(), 1);
    }
}
