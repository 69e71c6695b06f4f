//! `hearth serve`: the FHIR API on a TCP listener, with graceful shutdown.

use std::process::ExitCode;

use crate::cli::ServeArgs;
use crate::config::ServerConfig;
use crate::wiring;

/// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests and exits.
///
/// # Errors
/// Configuration, store and listener failures, as text for the command line.
pub async fn run(args: ServeArgs) -> Result<ExitCode, String> {
    let config = ServerConfig::from_serve_args(&args).map_err(|e| e.to_string())?;
    let mut components = wiring::open(&config.store)
        .await
        .map_err(|e| format!("cannot open the store: {}", wiring::describe(&e)))?;
    if let Some(store) = components.stale_search_index.take() {
        rebuild_search_index(store).await?;
    }
    // Outside Lambda the AWS backend indexes other processes' writes from the stream here.
    let _stream_indexer = components.stream_indexer.take().map(|s| s.spawn());
    let authorizer = wiring::authorizer(&config.auth, &config.store.data_dir)?;
    let app = hearth_routing::app(wiring::state(components, config.router, authorizer));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, backend = ?config.store.backend, "hearth listening");
    // The first line on stdout tells scripts and tests where the server is.
    println!("hearth listening on http://{local}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))?;
    tracing::info!("hearth stopped");
    Ok(ExitCode::SUCCESS)
}

/// Rebuilds the embedded search index that an import deferred, so that searches see every
/// resource from the first request on.
async fn rebuild_search_index(store: hearth_sqlite::SqliteStore) -> Result<(), String> {
    tracing::info!("rebuilding the search index deferred by `hearth import --defer-index`");
    let started = std::time::Instant::now();
    let indexed = tokio::task::spawn_blocking(move || store.rebuild_search_index(&mut |_, _| {}))
        .await
        .map_err(|e| format!("rebuilding the search index failed: {e}"))?
        .map_err(|e| {
            format!(
                "rebuilding the search index failed: {}",
                wiring::describe(&e)
            )
        })?;
    tracing::info!(
        indexed,
        seconds = started.elapsed().as_secs_f64(),
        "search index rebuilt"
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
