//! One open stream: read the log, write what the client has not seen, sample progress, keep the
//! line alive, close after the terminal event or when time is up, and give the place back.

use bytes::Bytes;
use lambda_http::Response;
use lambda_runtime::streaming::Sender;
use tokio::time::Instant;

use shared::domain::live::{KEEP_ALIVE, LiveEvent};
use shared::domain::timestamp::Timestamp;

use crate::{App, Body, Opened, Store};

/// Clients wait this long before reconnecting (SSE `retry:`).
const RECONNECT_MILLIS: u64 = 2000;

pub(crate) fn start<S: Store>(app: &'static App<S>, opened: Opened) -> Response<Body> {
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        let end = run(app, &opened, tx).await;
        tracing::info!(task_id = %opened.task_id, ?end, "status stream closed");
        if let Err(e) = app
            .store
            .release_stream(&opened.user_id, opened.slot, &opened.holder)
            .await
        {
            // The place frees itself when its time runs out.
            tracing::warn!(error = %e, "stream place not released");
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
        .header("access-control-allow-origin", "*")
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Why a stream ended.
#[derive(Debug, PartialEq)]
enum End {
    Terminal,
    TimeUp,
    ClientGone,
    StoreFailed,
}

struct Line {
    tx: Sender,
    last_write: Instant,
}

impl Line {
    async fn write(&mut self, text: String) -> Result<(), End> {
        self.last_write = Instant::now();
        self.tx
            .send_data(Bytes::from(text))
            .await
            .map_err(|_| End::ClientGone)
    }
}

async fn run<S: Store>(app: &App<S>, o: &Opened, tx: Sender) -> End {
    let limits = &app.limits;
    let closes_at = Instant::now() + limits.max_open;
    let mut line = Line {
        tx,
        last_write: Instant::now(),
    };
    if let Err(end) = line.write(format!("retry: {RECONNECT_MILLIS}\n\n")).await {
        return end;
    }
    let mut seen = o.after;
    let mut current: Option<LiveEvent> = None;
    let mut last_sample: Option<Instant> = None;
    loop {
        // From the status the client is in, so a resumed stream still knows when it began.
        let from = (seen / 100 * 100).saturating_sub(1);
        let events = match app.store.events_after(&o.task_id, from).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "event log not read; the client will resume");
                return End::StoreFailed;
            }
        };
        for e in events {
            if e.id > seen {
                if let Err(end) = line.write(e.frame(&o.task_id)).await {
                    return end;
                }
                seen = e.id;
            }
            current = Some(e);
        }
        if current.as_ref().is_some_and(LiveEvent::is_terminal) {
            return End::Terminal;
        }
        if let Err(end) = sample(app, o, &mut line, &current, &mut seen, &mut last_sample).await {
            return end;
        }
        if line.last_write.elapsed() >= limits.keep_alive
            && let Err(end) = line.write(KEEP_ALIVE.to_string()).await
        {
            return end;
        }
        if Instant::now() + limits.poll >= closes_at {
            return End::TimeUp;
        }
        tokio::time::sleep(limits.poll).await;
    }
}

/// A progress sample of the running status, at most one per `progress_every`.
async fn sample<S: Store>(
    app: &App<S>,
    o: &Opened,
    line: &mut Line,
    current: &Option<LiveEvent>,
    seen: &mut u32,
    last: &mut Option<Instant>,
) -> Result<(), End> {
    let due = last.is_none_or(|t| t.elapsed() >= app.limits.progress_every);
    let Some(cur) = current.as_ref().filter(|_| due) else {
        return Ok(());
    };
    let Some(p) = cur.progress_at(Timestamp::now(), app.limits.typical_secs, *seen) else {
        return Ok(());
    };
    line.write(p.frame(&o.task_id)).await?;
    *seen = p.id;
    *last = Some(Instant::now());
    Ok(())
}
