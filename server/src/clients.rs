//! `hearth clients add`: registers a SMART Backend Services client of the built-in token
//! endpoint and prints its client_id alone on stdout (so scripts can capture it).

use std::process::ExitCode;

use hearth_authz_smart::builtin::{ClientKeys, ClientRegistry, parse_public_keys};

use crate::cli::{ClientsAddArgs, ClientsCommand};

/// Runs a `hearth clients` subcommand.
///
/// # Errors
/// Unreadable key files, invalid keys or scopes, and registry write failures, as text.
pub fn run(command: ClientsCommand) -> Result<ExitCode, String> {
    match command {
        ClientsCommand::Add(args) => add(&args),
    }
}

fn add(args: &ClientsAddArgs) -> Result<ExitCode, String> {
    let keys = match (&args.jwks_url, &args.jwk) {
        (Some(url), _) => ClientKeys::JwksUrl(url.clone()),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            ClientKeys::Jwks(parse_public_keys(&text).map_err(|e| e.to_string())?)
        }
        (None, None) => return Err("give --jwks-url or --jwk".into()),
    };
    let client_id = ClientRegistry::new(&args.store.data_dir)
        .add(keys, &args.scope)
        .map_err(|e| e.to_string())?;
    println!("{client_id}");
    Ok(ExitCode::SUCCESS)
}
