//! An ascending-price auction after AucArena (Chen et al., 2023): bidders with budgets bid for a
//! sequence of items, each with a true value that no bidder knows; each knows an estimate (the
//! true value with seeded noise of up to `noise` percent either way).
//!
//! Items are sold one after another, each in rounds. In a round, every bidder still in the
//! bidding for the item, except the one holding the price, posts on the board either a bid (at
//! least the starting price before the first bid, else the current price plus the increment; at
//! most its remaining budget) or `withdraw`, all at once; a bid read by [`read_bid`] that breaks
//! a rule, or a reply with no bid in it, counts as a withdrawal and is recorded as invalid. A
//! withdrawal is final for the item. The highest valid bid (the earlier seat on a tie) holds the
//! price. The item sells to the holder at its bid once nobody else is left bidding, or once a
//! round brings no valid bid (unsold if nobody ever bid), or after [`MAX_ROUNDS`] rounds. A
//! bidder who cannot afford the next minimum leaves the item without being asked. Before each
//! later round, a bidder reads the previous round's posts from the board and is told the
//! price and who holds it; each item starts a fresh conversation that tells what was sold so
//! far. A bidder's profit is the sum of the true values of the items it won minus what it spent.

use super::{answer_line, ask, check_range, check_styles, styles_setting, GameError, Rng, Settings, Style};
use agentos_agents::team::{conclude, Outcome};
use agentos_agents::{AgentError, Strategy};
use agentos_core::Message;
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The catalogue: each item and its true value. The seed picks which are sold, in which order.
pub const ITEMS: &[(&str, u64)] = &[
    ("a vintage wristwatch", 240),
    ("a signed first-edition novel", 180),
    ("an oil painting of a harbour", 300),
    ("a silver teapot", 90),
    ("a mountain bike", 160),
    ("a mechanical keyboard", 70),
    ("a pair of concert tickets", 120),
    ("a handmade oak chair", 110),
    ("a film camera", 130),
    ("a box of rare stamps", 200),
    ("an antique globe", 150),
    ("a porcelain vase", 80),
    ("a leather armchair", 220),
    ("a telescope", 170),
    ("a set of chef's knives", 100),
    ("a jukebox", 280),
    ("a brass compass", 60),
    ("a marble chess set", 140),
    ("a vinyl record collection", 190),
    ("a designer handbag", 260),
];

/// The most bidding rounds per item; after the last, the item sells to the bidder holding the
/// price.
pub const MAX_ROUNDS: u32 = 20;

/// An auction of `items` items among `bidders` bidders, dealt by `seed`. See the module
/// documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auction {
    /// How many bidders.
    pub bidders: u32,
    /// How many items are sold.
    pub items: u32,
    /// What picks the items and the noise of the estimates.
    pub seed: u64,
    /// Each bidder's budget at the start.
    pub budget: u64,
    /// How much a bid must raise the price by.
    pub increment: u64,
    /// How far an estimate may be from the true value, in percent either way.
    pub noise: u32,
    /// Each bidder's style, by seat.
    pub styles: Vec<Style>,
}

/// One item for sale, as the seed deals it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lot {
    /// What it is.
    pub name: String,
    /// Its true value.
    pub value: u64,
    /// Its starting price: half its value, down to a multiple of 10 (at least 10).
    pub start: u64,
    /// Each bidder's estimate of its value, by seat.
    pub estimates: Vec<u64>,
}

/// One bidder's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bidder {
    /// Its member name, `bidder-<n>`.
    pub name: String,
    /// Its model URI.
    pub model: String,
    /// How it answered.
    pub style: Style,
    /// The items it won.
    pub items_won: Vec<String>,
    /// What it paid in all.
    pub spent: u64,
    /// Its budget left.
    pub budget_left: u64,
    /// The true values of the items it won minus what it paid.
    pub profit: i64,
    /// Its valid bids.
    pub bids: u32,
    /// Its bids that counted as withdrawals because they broke a rule or could not be read.
    pub invalid_bids: u32,
}

/// A bid that counted as a withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidBid {
    /// Who.
    pub bidder: String,
    /// The bidding round of the item, from 1.
    pub round: u32,
    /// What it posted.
    pub said: String,
    /// Why it was invalid.
    pub reason: String,
}

/// How one item went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// The item.
    pub item: String,
    /// Its true value.
    pub value: u64,
    /// Its starting price.
    pub start: u64,
    /// Who bought it (`None`: unsold).
    pub winner: Option<String>,
    /// What the buyer paid.
    pub price: Option<u64>,
    /// The bidding rounds played.
    pub rounds: u32,
    /// The bids that counted as withdrawals.
    pub invalid: Vec<InvalidBid>,
}

/// How an auction went: the `detail` of its team's `team_stopped` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionOutcome {
    /// `auction`.
    pub game: String,
    /// Whether every item was offered (false when a budget ran out first).
    pub complete: bool,
    /// Each item offered, in order.
    pub sales: Vec<Sale>,
    /// Each bidder's outcome, by seat.
    pub players: Vec<Bidder>,
}

/// What a bidder's post says it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BidAction {
    /// It bids this amount.
    Bid(u64),
    /// It withdraws.
    Withdraw,
    /// Neither can be read from it.
    Unreadable,
}

/// Reads a bidder's post: `withdraw` (also `pass`, `fold`, `no bid`) anywhere in it withdraws;
/// else its first number is the bid (`$1,200` is 1200; decimals are cut off).
///
/// ```
/// use agentos_gym::games::auction::{read_bid, BidAction};
/// assert_eq!(read_bid("$1,200"), BidAction::Bid(1200));
/// assert_eq!(read_bid("I withdraw."), BidAction::Withdraw);
/// assert_eq!(read_bid("a lot"), BidAction::Unreadable);
/// ```
pub fn read_bid(said: &str) -> BidAction {
    let lower = said.to_lowercase();
    if ["withdraw", "pass", "fold", "no bid"].iter().any(|w| lower.contains(w)) {
        return BidAction::Withdraw;
    }
    let mut digits = String::new();
    let mut chars = lower.chars().skip_while(|c| !c.is_ascii_digit()).peekable();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' => digits.push(c),
            ',' if chars.peek().is_some_and(|n| n.is_ascii_digit()) => {}
            _ => break,
        }
    }
    digits.parse().map_or(BidAction::Unreadable, BidAction::Bid)
}

impl Auction {
    /// The numbers of bidders an auction may have.
    pub const BIDDERS: RangeInclusive<u32> = 2..=8;
    /// The numbers of items an auction may sell.
    pub const ITEMS: RangeInclusive<u32> = 1..=ITEMS.len() as u32;
    /// The budgets a bidder may start with.
    pub const BUDGETS: RangeInclusive<u64> = 10..=1_000_000;
    /// The increments a bid may have to raise the price by.
    pub const INCREMENTS: RangeInclusive<u64> = 1..=1_000;
    /// The noise an estimate may have, in percent.
    pub const NOISE: RangeInclusive<u32> = 0..=90;

    /// An auction, its settings checked (errors name the flag of `agentos play auction`).
    pub fn new(
        bidders: u32,
        items: u32,
        seed: u64,
        budget: u64,
        increment: u64,
        noise: u32,
        styles: Vec<Style>,
    ) -> Result<Auction, GameError> {
        check_range("bidders", bidders, Self::BIDDERS)?;
        check_range("items", items, Self::ITEMS)?;
        check_range("budget", budget, Self::BUDGETS)?;
        check_range("increment", increment, Self::INCREMENTS)?;
        check_range("noise", noise, Self::NOISE)?;
        check_styles("bidders", bidders, &styles)?;
        Ok(Auction { bidders, items, seed, budget, increment, noise, styles })
    }

    /// Its stored strategy name, which [`Auction::parse`] reads back:
    /// `auction:bidders=3,items=5,seed=7,budget=400,increment=10,noise=20,styles=cot+cot+cot`.
    pub fn strategy_name(&self) -> String {
        format!(
            "auction:bidders={},items={},seed={},budget={},increment={},noise={},styles={}",
            self.bidders,
            self.items,
            self.seed,
            self.budget,
            self.increment,
            self.noise,
            styles_setting(&self.styles)
        )
    }

    /// Reads a stored strategy name back (see [`Auction::strategy_name`]).
    pub fn parse(name: &str) -> Result<Auction, GameError> {
        let s = Settings::parse(name, "auction", &["bidders", "items", "seed", "budget", "increment", "noise", "styles"])?;
        let auction = Auction::new(
            s.number("bidders")?,
            s.number("items")?,
            s.number("seed")?,
            s.number("budget")?,
            s.number("increment")?,
            s.number("noise")?,
            s.styles()?,
        );
        auction.map_err(|e| GameError::Name { name: name.to_string(), reason: e.to_string() })
    }

    /// The member name of seat `i` (from 0): `bidder-<i + 1>`.
    pub fn member(i: usize) -> String {
        format!("bidder-{}", i + 1)
    }

    /// The items the seed deals, in the order they are sold, with each bidder's estimates.
    pub fn deal(&self) -> Vec<Lot> {
        let mut rng = Rng::new(self.seed);
        let mut catalogue: Vec<(&str, u64)> = ITEMS.to_vec();
        rng.shuffle(&mut catalogue);
        catalogue
            .into_iter()
            .take(self.items as usize)
            .map(|(name, value)| {
                let estimates = (0..self.bidders)
                    .map(|_| {
                        let off = (2.0 * rng.unit() - 1.0) * f64::from(self.noise) / 100.0;
                        ((value as f64 * (1.0 + off)).round() as u64).max(1)
                    })
                    .collect();
                Lot { name: name.to_string(), value, start: (value / 2 / 10 * 10).max(10), estimates }
            })
            .collect()
    }

    /// Seat `i`'s role prompt: who it is and the rules.
    fn role(&self, i: usize) -> String {
        let seats: Vec<String> = (0..self.bidders as usize).map(label).collect();
        format!(
            "You are {} in an auction with {} bidders: {}. {} items are sold one after another in ascending-price rounds. In \
             each round, every bidder still bidding for the item (except the one holding the price) bids at least the current \
             price plus {} (or at least the starting price, before the first bid) and at most their remaining budget, or \
             withdraws; a withdrawal is final for that item, and a bid that breaks these rules or cannot be read counts as \
             a withdrawal. The item goes to the last bidder left, at their last bid. Every bidder starts with a budget of {}. \
             Your goal is profit: the true value of the items you win minus what you pay for them. Nobody knows the true \
             values; you are given your own estimate of each.",
            label(i),
            self.bidders,
            seats.join(", "),
            self.items,
            self.increment,
            self.budget
        )
    }
}

/// Seat `i`'s name as the bidders read it: `Bidder <i + 1>`.
fn label(i: usize) -> String {
    format!("Bidder {}", i + 1)
}

#[async_trait]
impl Strategy for Auction {
    fn name(&self) -> &'static str {
        "auction"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let members = (0..self.bidders as usize)
            .map(|i| {
                let name = Auction::member(i);
                MemberSpec { model: agent.spec().roles.get(&name).cloned(), ..MemberSpec::new(name, self.role(i)) }
            })
            .collect();
        let team = agent.team(members).await?;
        let played = self.play(&team).await;
        conclude(team, played).await
    }
}

impl Auction {
    async fn play(&self, team: &Team<'_>) -> Result<Outcome, AgentError> {
        let members = team.members();
        let lots = self.deal();
        let mut players: Vec<Bidder> = (0..members.len())
            .map(|i| Bidder {
                name: Auction::member(i),
                model: members[i].spec().model.clone(),
                style: self.styles[i],
                items_won: Vec::new(),
                spent: 0,
                budget_left: self.budget,
                profit: 0,
                bids: 0,
                invalid_bids: 0,
            })
            .collect();
        let mut sales: Vec<Sale> = Vec::new();
        let mut board_round = 0u32;
        let seed = |i: usize| self.seed.wrapping_add(i as u64);
        for (k, lot) in lots.iter().enumerate() {
            let mut sale = Sale {
                item: lot.name.clone(),
                value: lot.value,
                start: lot.start,
                winner: None,
                price: None,
                rounds: 0,
                invalid: Vec::new(),
            };
            let earlier = earlier(&sales);
            let mut talks: Vec<Vec<Message>> = vec![Vec::new(); members.len()];
            let mut news: Vec<String> = (0..members.len())
                .map(|i| {
                    let won: Vec<String> =
                        sales.iter().filter(|s| s.winner.as_deref() == Some(&players[i].name)).map(|s| s.item.clone()).collect();
                    format!(
                        "Your budget left: {}. You have won: {}.{earlier}\n\nItem {} of {}: {}. Your estimate of its value: {}. Starting \
                         price: {}. Items after this one: {}.\n\n",
                        players[i].budget_left,
                        if won.is_empty() { "nothing yet".to_string() } else { won.join(", ") },
                        k + 1,
                        lots.len(),
                        lot.name,
                        lot.estimates[i],
                        lot.start,
                        lots.len() - k - 1
                    )
                })
                .collect();
            let mut bidding: Vec<usize> = (0..members.len()).collect();
            let mut holder: Option<(usize, u64)> = None;
            loop {
                let least = holder.map_or(lot.start, |(_, price)| price + self.increment);
                bidding.retain(|i| Some(*i) == holder.map(|h| h.0) || players[*i].budget_left >= least);
                let asked: Vec<usize> = bidding.iter().copied().filter(|i| Some(*i) != holder.map(|h| h.0)).collect();
                if asked.is_empty() || sale.rounds == MAX_ROUNDS {
                    break;
                }
                sale.rounds += 1;
                let round = sale.rounds;
                for &i in &asked {
                    let mut prompt = std::mem::take(&mut news[i]);
                    if round > 1 {
                        let posts = team.read(&members[i], board_round - 1).await?;
                        let said: Vec<String> =
                            posts.iter().filter_map(|p| Some(format!("{} said `{}`", label(seat(&p.sender)?), p.text))).collect();
                        if !said.is_empty() {
                            prompt = format!("What the other bidders said in round {}: {}.\n{prompt}", round - 1, said.join("; "));
                        }
                    }
                    prompt.push_str(&format!(
                        "Item {} of {}, bidding round {round}: bid at least {least} (your budget left is {}) or withdraw. \
                         Answer on a last line `Bid: <amount>` or `Bid: withdraw`.",
                        k + 1,
                        lots.len(),
                        players[i].budget_left
                    ));
                    talks[i].push(Message::user(prompt));
                }
                let calls = asked.iter().map(|i| (&members[*i], talks[*i].as_slice(), self.styles[*i], seed(*i))).collect();
                let Some(replies) = ask(calls).await? else {
                    sales.push(sale);
                    return Ok(self.stopped(players, sales, false, k as u32 + 1));
                };
                let mut best: Option<(usize, u64)> = None;
                let mut rulings = Vec::new();
                for (&i, reply) in asked.iter().zip(replies) {
                    let text = reply.message.content();
                    talks[i].push(Message::assistant(text.clone()));
                    let said = answer_line(&text, "Bid");
                    team.post(&members[i], board_round, &said, reply.usage.output_tokens).await?;
                    let ruling = match read_bid(&said) {
                        BidAction::Bid(amount) if amount > players[i].budget_left => {
                            Err(format!("{amount} is over its budget left, {}", players[i].budget_left))
                        }
                        BidAction::Bid(amount) if amount < least => Err(format!("{amount} is below the least bid, {least}")),
                        BidAction::Bid(amount) => Ok(Some(amount)),
                        BidAction::Withdraw => Ok(None),
                        BidAction::Unreadable => Err("it holds neither a bid nor `withdraw`".to_string()),
                    };
                    match &ruling {
                        Ok(Some(amount)) => {
                            players[i].bids += 1;
                            if !matches!(best, Some((_, b)) if b >= *amount) {
                                best = Some((i, *amount));
                            }
                        }
                        Ok(None) => {}
                        Err(reason) => {
                            players[i].invalid_bids += 1;
                            sale.invalid.push(InvalidBid { bidder: Auction::member(i), round, said: said.clone(), reason: reason.clone() });
                        }
                    }
                    rulings.push((i, ruling));
                }
                board_round += 1;
                bidding.retain(|i| !rulings.iter().any(|(j, r)| j == i && !matches!(r, Ok(Some(_)))));
                let Some(best) = best else { break };
                holder = Some(best);
                let ruled: Vec<String> = rulings
                    .iter()
                    .filter_map(|(i, r)| r.as_ref().err().map(|why| format!(" {}'s bid counts as a withdrawal: {why}.", label(*i))))
                    .collect();
                let still: Vec<String> = bidding.iter().map(|i| label(*i)).collect();
                for &i in &bidding {
                    news[i] = format!(
                        "The price is now {}, held by {}.{} Still bidding: {}.\n\n",
                        best.1,
                        if best.0 == i { "you".to_string() } else { label(best.0) },
                        ruled.concat(),
                        still.join(", ")
                    );
                }
            }
            if let Some((i, price)) = holder {
                players[i].budget_left -= price;
                players[i].spent += price;
                players[i].profit += lot.value as i64 - price as i64;
                players[i].items_won.push(lot.name.clone());
                sale.winner = Some(Auction::member(i));
                sale.price = Some(price);
            }
            sales.push(sale);
        }
        Ok(self.stopped(players, sales, true, lots.len() as u32))
    }

    /// The outcome once every item was offered (`complete`), or when a budget ran out while item
    /// `round` was.
    fn stopped(&self, players: Vec<Bidder>, sales: Vec<Sale>, complete: bool, round: u32) -> Outcome {
        let best = players.iter().map(|p| p.profit).max().unwrap_or(0);
        let leaders: Vec<&str> = players.iter().filter(|p| p.profit == best).map(|p| p.name.as_str()).collect();
        let sold = sales.iter().filter(|s| s.winner.is_some()).count();
        let answer = complete.then(|| match sold {
            0 => format!("nobody bought anything: none of the {} items sold", sales.len()),
            _ => format!("{} made the most profit, {best}; {sold} of {} items sold", leaders.join(" and "), sales.len()),
        });
        let reason = if complete { StopReason::Answer } else { StopReason::Budget };
        let outcome = AuctionOutcome { game: "auction".into(), complete, sales, players };
        Outcome { answer, reason, round, detail: serde_json::to_value(outcome).expect("an outcome serializes") }
    }
}

/// The seat of member `bidder-<n>`.
fn seat(member: &str) -> Option<usize> {
    member.strip_prefix("bidder-")?.parse::<usize>().ok()?.checked_sub(1)
}

/// What was sold before, as each item's first prompt tells it.
fn earlier(sales: &[Sale]) -> String {
    if sales.is_empty() {
        return String::new();
    }
    let each: Vec<String> = sales
        .iter()
        .map(|s| match (&s.winner, s.price) {
            (Some(winner), Some(price)) => format!("{} sold to {} for {price}", s.item, label(seat(winner).unwrap_or(0))),
            _ => format!("{} unsold", s.item),
        })
        .collect();
    format!(" Sold so far: {}.", each.join("; "))
}
