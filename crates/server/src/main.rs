//! The `m2m` binary: `m2m serve` and the admin CLI.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod config;
mod conn;
mod console;
mod http;
mod masterkey;
mod metrics;
mod openapi;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The binary, unlike the libraries, may choose the process-wide TLS crypto.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, outermost first.
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn chain(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let endpoint = cli.endpoint.as_str();
    match cli.command {
        Command::Serve(args) => serve::serve(*args).await,
        Command::Client(command) => {
            let admin = http::Admin::login(endpoint, &cli.admin_file).await?;
            commands::client(&admin, command).await
        }
        Command::Secret(command) => {
            let admin = http::Admin::login(endpoint, &cli.admin_file).await?;
            commands::secret(&admin, command).await
        }
        Command::Key(command) => {
            let admin = http::Admin::login(endpoint, &cli.admin_file).await?;
            commands::key(&admin, command).await
        }
        Command::Audit(args) => {
            let admin = http::Admin::login(endpoint, &cli.admin_file).await?;
            commands::audit(&admin, args).await
        }
        Command::Org(command) => {
            let admin = http::Admin::login(endpoint, &cli.admin_file).await?;
            commands::org(&admin, command).await
        }
        Command::Grant(command) => {
            let admin = http::Admin::login(endpoint, &cli.admin_file).await?;
            commands::grant(&admin, command).await
        }
        Command::Token(args) => commands::token(endpoint, args).await,
        Command::Verify(args) => commands::verify(endpoint, args).await,
    }
}
