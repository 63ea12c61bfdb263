//! The downloads chart of a package page: the 90-day daily series as SVG bars the template
//! draws inline (SVG presentation attributes, no style), so it shows with JavaScript off and
//! under the page's Content Security Policy. Each bar carries a `<title>` with its day and
//! count for screen readers and hover.

use serde::Serialize;
use wharf_storage::DownloadStats;

/// The chart's drawing area, in SVG user units.
pub(crate) const WIDTH: u32 = 540;
/// The height of the tallest bar.
pub(crate) const HEIGHT: u32 = 120;

/// One day's bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Bar {
    /// The left edge.
    x: u32,
    /// The top edge.
    y: u32,
    /// The width.
    width: u32,
    /// The height (0 for a day without downloads).
    height: u32,
    /// The day, `YYYY-MM-DD`.
    date: String,
    /// Downloads that day.
    downloads: u64,
}

/// The chart: bars, the largest day, and the first and last days for the axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Chart {
    bars: Vec<Bar>,
    max: u64,
    total: u64,
    first: String,
    last: String,
    width: u32,
    height: u32,
}

/// Scales `value` of `max` to `HEIGHT`, rounding up so any download shows as a visible bar.
fn scaled(value: u64, max: u64) -> u32 {
    if max == 0 || value == 0 {
        return 0;
    }
    let height = (u128::from(value) * u128::from(HEIGHT)).div_ceil(u128::from(max));
    u32::try_from(height).unwrap_or(HEIGHT).max(1)
}

/// Lays the daily series out as bars.
pub(crate) fn chart(stats: &DownloadStats) -> Chart {
    let days = u32::try_from(stats.daily.len().max(1)).unwrap_or(u32::MAX);
    let step = (WIDTH / days).max(1);
    let max = stats
        .daily
        .iter()
        .map(|day| day.downloads)
        .max()
        .unwrap_or(0);
    let bars = stats
        .daily
        .iter()
        .zip(0u32..)
        .map(|(day, index)| {
            let height = scaled(day.downloads, max);
            Bar {
                x: index * step,
                y: HEIGHT - height,
                width: step.saturating_sub(1).max(1),
                height,
                date: day.date.clone(),
                downloads: day.downloads,
            }
        })
        .collect();
    Chart {
        bars,
        max,
        total: stats.daily.iter().map(|day| day.downloads).sum(),
        first: stats
            .daily
            .first()
            .map(|d| d.date.clone())
            .unwrap_or_default(),
        last: stats
            .daily
            .last()
            .map(|d| d.date.clone())
            .unwrap_or_default(),
        width: step * days,
        height: HEIGHT,
    }
}

#[cfg(test)]
mod tests {
    use wharf_storage::{DailyDownloads, DownloadStats};

    use super::{HEIGHT, chart};

    #[test]
    fn the_busiest_day_is_full_height_and_quiet_days_are_empty() {
        let daily = (0..90)
            .map(|day| DailyDownloads {
                date: format!("day-{day}"),
                downloads: match day {
                    10 => 40,
                    89 => 1,
                    _ => 0,
                },
            })
            .collect();
        let stats = DownloadStats {
            name: "x".into(),
            total: 41,
            versions: vec![],
            daily,
        };
        let chart = chart(&stats);
        assert_eq!(chart.bars.len(), 90);
        assert_eq!(chart.max, 40);
        assert_eq!(chart.total, 41);
        assert_eq!(chart.bars[10].height, HEIGHT);
        assert_eq!(chart.bars[10].y, 0);
        assert_eq!(chart.bars[89].height, 3);
        assert_eq!(chart.bars[0].height, 0);
        assert_eq!(
            (chart.first.as_str(), chart.last.as_str()),
            ("day-0", "day-89")
        );
    }
}
