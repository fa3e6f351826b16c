//! Live prices: feeds, sanity rules, the published snapshot, the history kept
//! for accounting, and the refresher that ties them together.
//!
//! - `feed`: the [`PriceFeed`] port, [`Ec2SpotFeed`] and [`FakePriceFeed`].
//! - `sanity`: [`check_quote`], the rules every live price passes.
//! - `live`: [`LivePrices`] and [`LivePrices::choose`], live price or price table.
//! - `history`: [`SpotPriceHistory`].
//! - `refresher`: [`PriceRefresher`], the scheduled task.
//! - `events`: what the refresher logs and counts.

mod events;
mod feed;
mod history;
mod live;
mod price_text;
mod refresher;
mod sanity;

pub use feed::{Ec2SpotFeed, FakePriceFeed, PriceFeed, PriceFeedError, PriceFuture, PriceQuote};
pub use history::SpotPriceHistory;
pub use live::{
    FeedHealth, LiveKey, LivePrice, LivePrices, PriceChoice, PriceCounters, PriceOrigin,
    RejectedLivePrice,
};
pub use refresher::{PriceRefresher, RefresherConfig};
pub use sanity::{MAX_SPOT_TO_ON_DEMAND, MOTO_PLACEHOLDER, PriceRejection, check_quote};
