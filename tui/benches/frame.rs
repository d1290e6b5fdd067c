//! Frame benchmark: with 10,000 jobs and 10,000 runs loaded, how long it takes to apply a key
//! and build and draw a frame (target: under 16 ms, one frame at 60 Hz). Also times a filter
//! keystroke, which scans every row, and a refresh that replaces the whole list.
//!
//! `cargo bench -p slipway-tui --bench frame`

#![allow(clippy::unwrap_used)] // a benchmark that cannot draw has nothing to report

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use slipway_tui::app::{Action, App, View};
use slipway_tui::data::Loaded;
use slipway_tui::fixtures;
use slipway_tui::view::draw;
use std::time::{Duration, Instant};

const ROWS: i64 = 10_000;
const FRAMES: usize = 300;

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{what:<44} median {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

/// Times `FRAMES` rounds of `step` followed by drawing a frame.
fn frames(
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
    mut step: impl FnMut(&mut App, usize),
) -> Vec<Duration> {
    (0..FRAMES)
        .map(|i| {
            let start = Instant::now();
            step(app, i);
            terminal.draw(|frame| draw(frame, app)).unwrap();
            start.elapsed()
        })
        .collect()
}

fn main() {
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut app = fixtures::big(ROWS);
    for view in [View::Jobs, View::Runs] {
        app.update(Action::Show(view));
        let times = frames(&mut app, &mut terminal, |app, i| {
            app.update(if i % 50 < 40 {
                Action::Down
            } else {
                Action::PageDown
            })
        });
        report(
            &format!("{} ({ROWS} rows): key + frame", view.title()),
            times,
        );
    }
    app.update(Action::Show(View::Jobs));
    app.update(Action::StartFilter);
    let times = frames(&mut app, &mut terminal, |app, i| {
        app.update(if i % 2 == 0 {
            Action::Type('9')
        } else {
            Action::Erase
        })
    });
    report("Jobs: filter keystroke + frame", times);
    app.update(Action::Back);
    let jobs = fixtures::big(ROWS).lists.jobs;
    let times = frames(&mut app, &mut terminal, |app, _| {
        app.loaded(Loaded::Jobs(jobs.clone()))
    });
    report("Jobs: replace 10,000 rows + frame", times);
}
