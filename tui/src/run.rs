//! The event loop: keys come from a blocking thread, answers and live events from tasks, all
//! through one channel; the screen is drawn after each change (ratatui only writes the cells
//! that changed, so refreshes do not flicker). The terminal is restored on exit, and on panic
//! by the hook ratatui's init installs.

use crate::app::App;
use crate::data::{Loaded, Request};
use crate::keys::action_for;
use crate::view::draw;
use crate::{fetch, live};
use ratatui::crossterm::event::{self, Event, KeyEvent, KeyEventKind};
use slipway_api::Client;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often what is on screen is fetched again, for what events do not cover (metrics).
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How often changes announced by events (and a followed log) are fetched, at most.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

enum Message {
    Key(KeyEvent),
    Resize,
    Loaded(Loaded),
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
            let message = match event::read() {
                Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => Message::Key(key),
                Ok(Event::Resize(..)) => Message::Resize,
                Ok(_) => continue,
                Err(_) => break,
            };
            if keys.send(message).is_err() {
                break;
            }
        }
    });
    let events = sender.clone();
    let follower = runtime.spawn(live::follow(client.clone(), move |loaded| {
        events.send(Message::Loaded(loaded)).is_ok()
    }));
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(err) => {
            // Half set up (raw mode without the alternate screen) is still worth undoing.
            ratatui::restore();
            return Err(err.into());
        }
    };
    let mut app = App::new(client.base_url());
    let mut last_refresh = Instant::now();
    let mut last_flush = Instant::now();
    let result = loop {
        for request in app.take_requests() {
            spawn(&runtime, &client, request, &sender);
        }
        if let Err(err) = terminal.draw(|frame| draw(frame, &app)) {
            break Err(err.into());
        }
        let wait = FLUSH_EVERY.saturating_sub(last_flush.elapsed());
        let first = match receiver.recv_timeout(wait) {
            Ok(message) => Some(message),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
        };
        // Whatever else is already waiting is handled before the next frame: a burst of
        // events or answers costs one draw, not one each.
        for message in first.into_iter().chain(receiver.try_iter()) {
            match message {
                Message::Key(key) => {
                    if let Some(action) = action_for(app.mode, key) {
                        app.update(action);
                    }
                }
                Message::Resize => {}
                Message::Loaded(loaded) => app.loaded(loaded),
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            last_flush = Instant::now();
            app.flush_stale();
        }
        if last_refresh.elapsed() >= REFRESH_EVERY {
            last_refresh = Instant::now();
            app.refresh();
        }
        if !app.running {
            break Ok(());
        }
    };
    follower.abort();
    ratatui::restore();
    result
}

fn spawn(
    runtime: &tokio::runtime::Handle,
    client: &Client,
    request: Request,
    sender: &mpsc::Sender<Message>,
) {
    let sender = sender.clone();
    fetch::spawn(runtime, client.clone(), request, move |loaded| {
        let _ = sender.send(Message::Loaded(loaded));
    });
}
