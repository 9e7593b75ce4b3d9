//! Output for people (aligned tables) and for scripts (`--json`).

use anyhow::Result;
use serde_json::Value;

/// Prints pretty JSON.
pub(crate) fn print_json(value: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under headers, columns padded to their widest cell.
pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints one client as `field: value` lines, then its secrets if present.
pub(crate) fn print_client(client: &Value) {
    let fields = [
        "client_id",
        "name",
        "kind",
        "org_id",
        "user_id",
        "scopes",
        "audiences",
        "redirect_uris",
        "token_endpoint_auth_method",
        "token_ttl_seconds",
        "dpop_bound_access_tokens",
        "token_exchange",
        "quota",
        "enabled",
        "created_at",
    ];
    let rows: Vec<Vec<String>> = fields
        .iter()
        .filter(|f| !client[**f].is_null())
        .map(|f| {
            let value = match &client[*f] {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            vec![format!("{f}:"), value]
        })
        .collect();
    for row in &rows {
        println!("{:<19}{}", row[0], row[1]);
    }
    if let Some(secrets) = client["secrets"].as_array() {
        println!();
        let rows: Vec<Vec<String>> = secrets
            .iter()
            .map(|s| {
                ["secret_id", "created_at", "expires_at", "last_used_at"]
                    .iter()
                    .map(|f| s[*f].as_str().unwrap_or("-").to_owned())
                    .collect()
            })
            .collect();
        print_table(
            &["SECRET_ID", "CREATED_AT", "EXPIRES_AT", "LAST_USED_AT"],
            &rows,
        );
    }
}
