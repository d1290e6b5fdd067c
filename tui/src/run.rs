//! The event loop: keys come from a blocking thread, answers and live events from tasks, all
//! through one channel; the screen is drawn after each change (ratatui only writes the cells
//! that changed, so refreshes do not flicker). The terminal is restored on exit, and on panic
//! by the hook ratatui's init installs. Switching to another context replaces the client and
//! the live stream; answers still on their way from the old server are dropped.

use crate::app::App;
use crate::data::{Loaded, Request};
use crate::keys::action_for;
use crate::view::draw;
use crate::{contexts, fetch, live};
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
    /// An answer, from the client of this generation (one per server talked to).
    Loaded(u64, Loaded),
}

/// Runs the terminal client against `client` (of the named context, if any) until the user
/// quits.
pub async fn run(client: Client, context: Option<String>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || event_loop(client, context, runtime)).await?
}

fn follow(
    runtime: &tokio::runtime::Handle,
    client: &Client,
    generation: u64,
    sender: &mpsc::Sender<Message>,
) -> tokio::task::JoinHandle<()> {
    let events = sender.clone();
    runtime.spawn(live::follow(client.clone(), move |loaded| {
        events.send(Message::Loaded(generation, loaded)).is_ok()
    }))
}

fn event_loop(
    mut client: Client,
    context: Option<String>,
    runtime: tokio::runtime::Handle,
) -> anyhow::Result<()> {
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
    let mut generation = 0;
    let mut follower = follow(&runtime, &client, generation, &sender);
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(err) => {
            // Half set up (raw mode without the alternate screen) is still worth undoing.
            ratatui::restore();
            return Err(err.into());
        }
    };
    let mut app = App::new(client.base_url());
    if let Some(name) = context {
        app.set_context(name);
    }
    let mut last_refresh = Instant::now();
    let mut last_flush = Instant::now();
    let result = loop {
        // A switch queues the new server's first requests: run those before waiting too.
        let mut requests = app.take_requests();
        while !requests.is_empty() {
            for request in std::mem::take(&mut requests) {
                let Request::UseContext(name) = request else {
                    spawn(&runtime, &client, generation, request, &sender);
                    continue;
                };
                match contexts::find(&name).and_then(|context| Ok((context.client()?, context))) {
                    Ok((new, context)) => {
                        follower.abort();
                        client = new;
                        generation += 1;
                        follower = follow(&runtime, &client, generation, &sender);
                        app.switched(&context.name, client.base_url());
                    }
                    Err(err) => app.loaded(Loaded::Failed {
                        message: err.to_string(),
                        forbidden: false,
                    }),
                }
            }
            requests = app.take_requests();
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
                Message::Loaded(from, loaded) if from == generation => app.loaded(loaded),
                Message::Loaded(..) => {}
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
    generation: u64,
    request: Request,
    sender: &mpsc::Sender<Message>,
) {
    let sender = sender.clone();
    fetch::spawn(runtime, client.clone(), request, move |loaded| {
        let _ = sender.send(Message::Loaded(generation, loaded));
    });
}
