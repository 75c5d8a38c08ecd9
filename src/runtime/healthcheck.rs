//! `ssm-contacts-operator healthcheck`: asks a running operator's probe over plain HTTP and
//! exits 0 only on a 2xx answer. It lets `helm test` (and any other check) run on the
//! operator's own image, with no third-party image an air-gapped cluster may not have.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::config::HealthcheckArgs;

/// The longest answer read: a status line and headers fit many times over.
const MAX_ANSWER: u64 = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("{0:?} is not an http://HOST:PORT/PATH address")]
    Url(String),
    #[error("no answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("{url} answered {status_line:?}")]
    Unhealthy { url: String, status_line: String },
}

/// The host (with port) and path of a plain-HTTP URL.
fn split_url(url: &str) -> Result<(&str, &str), HealthcheckError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HealthcheckError::Url(url.to_owned()))?;
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if host.is_empty() || !host.contains(':') || path.contains(char::is_whitespace) {
        return Err(HealthcheckError::Url(url.to_owned()));
    }
    Ok((host, path))
}

/// Asks up to `attempts` times, `interval` apart, saying each failure on stderr; the status
/// line of the first 2xx answer, or the last failure.
pub async fn check_until_healthy(args: &HealthcheckArgs) -> Result<String, HealthcheckError> {
    let mut attempt = 1;
    loop {
        match check(args).await {
            Ok(status_line) => return Ok(status_line),
            Err(error) if attempt < args.attempts => {
                eprintln!("attempt {attempt} of {}: {error}", args.attempts);
                attempt += 1;
                tokio::time::sleep(args.interval).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Asks `url` once; the status line on a 2xx answer.
pub async fn check(args: &HealthcheckArgs) -> Result<String, HealthcheckError> {
    let (host, path) = split_url(&args.url)?;
    let url = args.url.clone();
    let ask = async {
        let io = |source| HealthcheckError::Io {
            url: url.clone(),
            source,
        };
        let mut stream = TcpStream::connect(host).await.map_err(io)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: ssm-contacts-operator-healthcheck\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(io)?;
        Ok(answer)
    };
    let answer = tokio::time::timeout(args.timeout, ask)
        .await
        .map_err(|_| HealthcheckError::Timeout {
            url: url.clone(),
            timeout: args.timeout,
        })??;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default().trim().to_owned();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status.len() == 3 && status.starts_with('2') {
        Ok(status_line)
    } else {
        Err(HealthcheckError::Unhealthy { url, status_line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Only plain-HTTP addresses with a port are asked; the path defaults to `/`.
    fn urls() {
        assert_eq!(
            split_url("http://svc.ns:8081/readyz").ok(),
            Some(("svc.ns:8081", "/readyz"))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080").ok(),
            Some(("127.0.0.1:8080", "/"))
        );
        for bad in [
            "https://a:1/x",
            "http://a/x",
            "http:///x",
            "a:1/x",
            "http://a:1/x y",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }

    async fn answer_once(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(answer.as_bytes()).await;
        });
        format!("http://{addr}/readyz")
    }

    #[tokio::test]
    /// A 2xx answer passes; any other status, a closed port or silence fails.
    async fn answers() {
        let args = |url: String| HealthcheckArgs {
            url,
            timeout: Duration::from_secs(2),
            attempts: 1,
            interval: Duration::ZERO,
        };
        let ok = answer_once("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nready").await;
        assert_eq!(check(&args(ok)).await.unwrap(), "HTTP/1.1 200 OK");
        let unready = answer_once("HTTP/1.1 503 Service Unavailable\r\n\r\nwatch failing").await;
        assert!(matches!(
            check(&args(unready)).await,
            Err(HealthcheckError::Unhealthy { .. })
        ));
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        assert!(matches!(
            check(&args(format!("http://{closed}/readyz"))).await,
            Err(HealthcheckError::Io { .. })
        ));
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_args = HealthcheckArgs {
            url: format!("http://{}/readyz", silent.local_addr().unwrap()),
            timeout: Duration::from_millis(200),
            attempts: 1,
            interval: Duration::ZERO,
        };
        assert!(matches!(
            check(&silent_args).await,
            Err(HealthcheckError::Timeout { .. })
        ));
    }

    #[tokio::test]
    /// A probe that answers only on a later attempt passes when attempts are left, and the
    /// last failure is reported when none are.
    async fn attempts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for answer in [
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
                "HTTP/1.1 200 OK\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        let mut args = HealthcheckArgs {
            url: format!("http://{addr}/readyz"),
            timeout: Duration::from_secs(2),
            attempts: 1,
            interval: Duration::from_millis(10),
        };
        let once = answer_once("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        assert!(
            check_until_healthy(&HealthcheckArgs {
                url: once,
                ..args.clone()
            })
            .await
            .is_err()
        );
        args.attempts = 3;
        assert_eq!(check_until_healthy(&args).await.unwrap(), "HTTP/1.1 200 OK");
    }
}
