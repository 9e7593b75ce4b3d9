//! How long a token source waits after a failed request before the next.

use std::time::Duration;

/// The longest `Retry-After` honoured: an issuer's number may hold requests
/// back, but not for hours.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(5 * 60);

/// Exponential backoff between failed token requests, without jitter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// The pause after the first failure.
    pub(crate) first: Duration,
    /// The longest pause, however many failures in a row.
    pub(crate) max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The pause after the `streak`-th failure in a row (1 for the first):
    /// `first`, doubled for each failure before it, at most `max`; and at
    /// least the issuer's `Retry-After`, itself at most [`MAX_RETRY_AFTER`].
    pub(crate) fn delay(&self, streak: u32, retry_after: Option<Duration>) -> Duration {
        let doublings = streak.saturating_sub(1).min(31);
        let own = self
            .first
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max);
        match retry_after {
            Some(asked) => own.max(asked.min(MAX_RETRY_AFTER)),
            None => own,
        }
    }
}

/// `Retry-After` as delay-seconds (RFC 9110 §10.2.3). An HTTP-date, or
/// anything else, is ignored: the backoff alone applies then.
pub(crate) fn retry_after(value: &http::HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: only too many of them fails to parse, which is "a long time".
    Some(
        text.parse::<u64>()
            .map_or(MAX_RETRY_AFTER, Duration::from_secs),
    )
}

/// The seconds until the issuer's quota has room again, from a `RateLimit`
/// header (draft-ietf-httpapi-ratelimit-headers: a list of
/// `"policy";r=REMAINING;t=RESET`): the longest `t` of a policy with `r=0`,
/// or `None` when every policy has tokens left (or the header is not
/// understood, which never delays anything). At most [`MAX_RETRY_AFTER`].
pub(crate) fn quota_exhausted_for(value: &http::HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    let mut wait: Option<u64> = None;
    for item in text.split(',') {
        let (mut remaining, mut reset) = (None, None);
        for param in item.split(';').skip(1) {
            let Some((key, value)) = param.trim().split_once('=') else {
                continue;
            };
            let value = value.trim().parse::<u64>().ok();
            match key.trim() {
                "r" => remaining = value,
                "t" => reset = value,
                _ => {}
            }
        }
        if let (Some(0), Some(reset)) = (remaining, reset) {
            wait = Some(wait.map_or(reset, |w| w.max(reset)));
        }
    }
    wait.map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_quota_policy_says_how_long() {
        let parse = |s: &'static str| quota_exhausted_for(&http::HeaderValue::from_static(s));
        assert_eq!(parse("\"client-minute\";r=3;t=40"), None);
        assert_eq!(
            parse("\"client-minute\";r=0;t=40, \"org-hour\";r=5;t=900"),
            Some(Duration::from_secs(40))
        );
        assert_eq!(
            parse("\"a\";r=0;t=4, \"b\";r=0;t=9"),
            Some(Duration::from_secs(9))
        );
        assert_eq!(parse("\"a\";r=0;t=999999"), Some(MAX_RETRY_AFTER));
        for junk in ["", "garbage", "\"a\";r=x;t=1", "\"a\";r=0", "\"a\";t=5"] {
            assert_eq!(parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let backoff = Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(1),
        };
        let delays: Vec<_> = (1..=5).map(|n| backoff.delay(n, None)).collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 1000, 1000].map(Duration::from_millis)
        );
        assert_eq!(backoff.delay(u32::MAX, None), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_lengthens_but_is_capped() {
        let backoff = Backoff::default();
        let secs = Duration::from_secs;
        assert_eq!(backoff.delay(1, Some(secs(2))), secs(2));
        assert_eq!(backoff.delay(1, Some(Duration::ZERO)), secs(1));
        assert_eq!(backoff.delay(1, Some(secs(86_400))), MAX_RETRY_AFTER);
    }

    #[test]
    fn parses_delay_seconds_only() {
        let parse = |s: &'static str| retry_after(&http::HeaderValue::from_static(s));
        assert_eq!(parse("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("1.5"), None);
        assert_eq!(parse(""), None);
    }
}
