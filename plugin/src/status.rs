//! `status [NAME]`: reads the objects and prints the table of [`crate::waiting`].

use jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use ssm_contacts_operator::api::resource::ContactChannelActivation;

use crate::cluster::Cluster;
use crate::error::PluginError;
use crate::waiting::{Row, row};

pub async fn run(
    cluster: &Cluster,
    all_namespaces: bool,
    name: Option<&str>,
) -> Result<String, PluginError> {
    let objects = match (name, all_namespaces) {
        (Some(_), true) => return Err(PluginError::NameWithAllNamespaces),
        (Some(name), false) => vec![crate::resend::get(cluster, name).await?],
        (None, all) => {
            let api: Api<ContactChannelActivation> = if all {
                Api::all(cluster.client.clone())
            } else {
                Api::namespaced(cluster.client.clone(), &cluster.namespace)
            };
            api.list(&ListParams::default())
                .await
                .map_err(PluginError::kube("listing contactchannelactivations"))?
                .items
        }
    };
    if objects.is_empty() {
        // As kubectl: nothing on stdout, the explanation on stderr.
        if all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", cluster.namespace);
        }
        return Ok(String::new());
    }
    let now = Timestamp::now();
    let rows: Vec<Row> = objects.iter().map(|o| row(o, now)).collect();
    Ok(table(&rows, all_namespaces))
}

/// Columns padded as kubectl pads them (three spaces apart).
pub fn table(rows: &[Row], with_namespace: bool) -> String {
    let mut lines: Vec<Vec<&str>> = vec![
        [
            "NAMESPACE",
            "NAME",
            "CHANNEL",
            "WAITING FOR",
            "UNTIL",
            "ATTEMPTS",
            "LAST ERROR",
        ]
        .to_vec(),
    ];
    for row in rows {
        lines.push(vec![
            &row.namespace,
            &row.name,
            &row.channel,
            &row.waiting,
            &row.until,
            &row.attempts,
            &row.last_error,
        ]);
    }
    if !with_namespace {
        for line in &mut lines {
            line.remove(0);
        }
    }
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i + 1 == columns {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NAMESPACE column appears only with -A; columns line up.
    #[test]
    fn table_aligns_columns() {
        let row = Row {
            namespace: "team".into(),
            name: "phone".into(),
            channel: "0c4e1a".into(),
            waiting: "send line (Pending)".into(),
            until: "-".into(),
            attempts: "0".into(),
            last_error: "-".into(),
        };
        let text = table(std::slice::from_ref(&row), false);
        assert_eq!(
            text,
            "NAME    CHANNEL   WAITING FOR           UNTIL   ATTEMPTS   LAST ERROR\n\
             phone   0c4e1a    send line (Pending)   -       0          -\n"
        );
        assert!(table(&[row], true).starts_with("NAMESPACE   NAME"));
    }
}
