//! The event loop: read keys on a blocking thread, fetch data in tasks, draw after each change,
//! and restore the terminal on exit (ratatui's init also restores it on panic).

use crate::app::{Action, App, Loaded};
use crate::keys::action_for;
use crate::view::draw;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use slipway_api::{Client, PageRequest, SearchRuns};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the data is fetched again on its own.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

enum Message {
    Key(Action),
    Loaded(Loaded),
}

fn fetch(client: Client, runtime: &tokio::runtime::Handle, sender: mpsc::Sender<Message>) {
    runtime.spawn(async move {
        let runs = client
            .search_runs(&SearchRuns {
                limit: Some(200),
                ..SearchRuns::default()
            })
            .await;
        let experiments = client
            .list_experiments(&PageRequest {
                limit: Some(200),
                page_token: None,
            })
            .await;
        let messages = match (runs, experiments) {
            (Ok(runs), Ok(experiments)) => vec![
                Loaded::Runs(runs.items),
                Loaded::Experiments(experiments.items),
            ],
            (Err(err), _) | (_, Err(err)) => vec![Loaded::Failed(err.to_string())],
        };
        for message in messages {
            let _ = sender.send(Message::Loaded(message));
        }
    });
}

/// Runs the terminal client against `client` until the user quits.
pub async fn run(client: Client) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || event_loop(client, runtime)).await?
}

fn event_loop(client: Client, runtime: tokio::runtime::Handle) -> anyhow::Result<()> {
    let (sender, receiver) = mpsc::channel();
    let keys = sender.clone();
    std::thread::spawn(move || {
        loop {
            match event::read() {
                Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                    if let Some(action) = action_for(key.code)
                        && keys.send(Message::Key(action)).is_err()
                    {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let mut terminal = ratatui::try_init()?;
    let mut app = App::new(client.base_url());
    let mut last_fetch = Instant::now() - REFRESH_EVERY;
    let result = loop {
        if app.wants_refresh || last_fetch.elapsed() >= REFRESH_EVERY {
            app.wants_refresh = false;
            last_fetch = Instant::now();
            fetch(client.clone(), &runtime, sender.clone());
        }
        if let Err(err) = terminal.draw(|frame| draw(frame, &app)) {
            break Err(err.into());
        }
        match receiver.recv_timeout(Duration::from_millis(250)) {
            Ok(Message::Key(action)) => app.update(action),
            Ok(Message::Loaded(loaded)) => app.loaded(loaded),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
        }
        if !app.running {
            break Ok(());
        }
    };
    ratatui::restore();
    result
}
