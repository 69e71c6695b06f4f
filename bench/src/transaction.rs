//! Transaction throughput: `POST /` with a transaction Bundle holding one synthetic patient
//! record (a Patient, Encounters, Observations referring to them by `urn:uuid:`), for
//! several sizes; baseline: the same resources created one by one with `POST [type]` over a
//! keep-alive connection, in the same run.

use std::time::Instant;

use serde_json::{Value, json};

use crate::http_load::{Server, spawn_hearth};
use crate::median;
use crate::report::out;

/// Options of the transaction scenario.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle sizes (entries).
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    sizes: Vec<usize>,
    /// Runs per size; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// A patient record of `size` entries: 1 Patient, one Encounter per 10 entries, the rest
/// Observations of those encounters.
fn record(size: usize, seed: usize) -> Vec<Value> {
    let urn = |kind: &str, n: usize| {
        format!(
            "urn:uuid:{:08x}-0000-4000-8000-{:012x}",
            seed,
            n * 4 + kind.len() % 4
        )
    };
    let patient = urn("P", 0);
    let mut entries = vec![
        json!({"fullUrl": patient, "request": {"method": "POST", "url": "Patient"},
        "resource": {"resourceType": "Patient", "name": [{"family": format!("Bench{seed}")}], "gender": "female", "birthDate": "1970-01-01"}}),
    ];
    let encounters = (size / 10).max(1);
    for e in 1..=encounters.min(size.saturating_sub(1)) {
        entries.push(json!({"fullUrl": urn("EN", e), "request": {"method": "POST", "url": "Encounter"},
            "resource": {"resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": patient}}}));
    }
    let mut n = 0;
    while entries.len() < size {
        n += 1;
        let encounter = urn("EN", 1 + n % encounters);
        entries.push(json!({"fullUrl": urn("OBS", n), "request": {"method": "POST", "url": "Observation"},
            "resource": {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
                "subject": {"reference": patient}, "encounter": {"reference": encounter},
                "effectiveDateTime": "2024-05-01T10:00:00Z",
                "valueQuantity": {"value": 60 + n % 40, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}}));
    }
    entries
}

pub async fn run(args: Args) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let server: Server = spawn_hearth(dir.path())?;
    let client = reqwest::Client::new();
    out!(
        "transaction Bundles (urn:uuid references) vs the same resources created one by one; median of {} run(s)",
        args.runs
    );
    out!("| entries | transaction ms | entries/s | one-by-one entries/s | ratio |");
    out!("|---|---|---|---|---|");
    let mut seed = 0;
    for &size in &args.sizes {
        let mut tx_ms = Vec::new();
        let mut single_rate = Vec::new();
        for _ in 0..args.runs.max(1) {
            seed += 1;
            let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": record(size, seed)}).to_string();
            let started = Instant::now();
            let response = client
                .post(format!("{}/", server.base))
                .header("content-type", "application/fhir+json")
                .header("prefer", "return=minimal")
                .body(bundle)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let ok = response.status().is_success();
            response.bytes().await.map_err(|e| e.to_string())?;
            if !ok {
                return Err(format!("the {size}-entry transaction failed"));
            }
            tx_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            single_rate.push(one_by_one(&client, &server.base, size.min(1000), seed).await?);
        }
        let ms = median(tx_ms);
        let tx_rate = size as f64 / (ms / 1000.0);
        let single = median(single_rate);
        out!(
            "| {size} | {ms:.1} | {tx_rate:.0} | {single:.0} | {:.2} |",
            tx_rate / single
        );
    }
    Ok(())
}

/// Creates `size` resources of a record with individual POSTs (references left out, as
/// they cannot be known beforehand); returns resources per second.
async fn one_by_one(
    client: &reqwest::Client,
    base: &str,
    size: usize,
    seed: usize,
) -> Result<f64, String> {
    let started = Instant::now();
    for entry in record(size, seed + 1_000_000) {
        let mut resource = entry["resource"].clone();
        if let Some(map) = resource.as_object_mut() {
            map.remove("subject");
            map.remove("encounter");
        }
        let ty = entry["request"]["url"].as_str().unwrap_or("Basic");
        let response = client
            .post(format!("{base}/{ty}"))
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(resource.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("create failed: {}", response.status()));
        }
    }
    Ok(size as f64 / started.elapsed().as_secs_f64())
}
