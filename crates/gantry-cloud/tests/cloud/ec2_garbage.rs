//! Garbage from EC2 (or from whatever answers in its place) is a typed error,
//! never a panic.

use std::sync::Arc;

use gantry_cloud::aws::{Ec2Api, Ec2Error, SpotPriceQuery};
use gantry_cloud::prices::{Ec2SpotFeed, PriceFeed, check_quote};

use crate::support::ec2_fixture::{Ec2Fixture, Params, fixture};
use crate::support::{at, shipped_price_table};

fn query() -> SpotPriceQuery {
    SpotPriceQuery {
        instance_types: vec!["g5.xlarge".to_owned()],
        product_descriptions: vec!["Linux/UNIX".to_owned()],
        start_time: at("2026-01-05T14:00:00Z"),
    }
}

async fn answer(status: u16, body: String) -> Ec2Error {
    let server = Ec2Fixture::start(Arc::new(move |_: &Params| (status, body.clone()))).await;
    server
        .adapter()
        .describe_spot_prices("us-east-1", &query())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_page_that_is_not_ec2_xml_is_a_bad_response() {
    let error = answer(200, fixture("not-ec2.html")).await;
    assert!(
        matches!(
            error,
            Ec2Error::BadResponse {
                operation: "DescribeSpotPriceHistory",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_truncated_response_yields_no_usable_price() {
    // The SDK's XML reader is lenient: a response cut in the middle may come
    // back as records with fields missing. Either way nothing usable survives.
    let server = Ec2Fixture::start(Arc::new(|_: &Params| (200, fixture("truncated.xml")))).await;
    let feed = Ec2SpotFeed::new(
        Arc::new(server.adapter()),
        "us-east-1",
        vec!["g5.xlarge".to_owned()],
    );
    match feed.fetch(at("2026-01-05T14:00:00Z")).await {
        Err(error) => assert_eq!(error.kind, "bad_response", "{error:?}"),
        Ok(quotes) => {
            let table = shipped_price_table();
            for quote in &quotes {
                let verdict = check_quote(quote, &table, at("2026-01-05T15:00:00Z"));
                assert!(verdict.is_err(), "{quote:?} was accepted");
            }
        }
    }
}

#[tokio::test]
async fn an_empty_body_is_a_bad_response() {
    let error = answer(200, String::new()).await;
    assert!(matches!(error, Ec2Error::BadResponse { .. }), "{error:?}");
}

#[tokio::test]
async fn an_ec2_error_envelope_is_a_refusal_with_its_code() {
    let error = answer(503, fixture("throttled.xml")).await;
    match &error {
        Ec2Error::Refused {
            code,
            message,
            region,
            ..
        } => {
            assert_eq!(code, "RequestLimitExceeded");
            assert_eq!(message, "Request limit exceeded.");
            assert_eq!(region, "us-east-1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.kind(), "refused");
}

#[tokio::test]
async fn a_server_error_without_an_envelope_is_reported_not_panicked() {
    let error = answer(500, "Internal Server Error".to_owned()).await;
    assert!(
        matches!(
            error,
            Ec2Error::BadResponse { .. } | Ec2Error::Refused { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_instance_type_answer_with_a_non_number_is_a_bad_response() {
    let server = Ec2Fixture::start(Arc::new(|_: &Params| (200, "<DescribeInstanceTypesResponse><instanceTypeSet><item><vCpuInfo><defaultVCpus>lots</defaultVCpus></vCpuInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>".to_owned()))).await;
    let error = server
        .adapter()
        .describe_instance_types("us-east-1", &["g5.xlarge".to_owned()])
        .await
        .unwrap_err();
    assert!(matches!(error, Ec2Error::BadResponse { .. }), "{error:?}");
}
