//! The games over the real kernel (SQLite journal, member runs, the board), each player on a
//! scripted model of its own that answers by what its last prompt asks: Who is the spy won by the
//! civilians and by the spy, a player disqualified for saying its word, a tied vote, an invalid
//! vote; the auction's sale to the highest bidder at its bid, bids that count as withdrawals,
//! profits; and a game interrupted in the middle of a round that resumes, in a new kernel,
//! without repeating a recorded member call.

use agentos_agents::{drive, Strategy};
use agentos_core::{Event, MessageOp, StepKind};
use agentos_gym::games::{Auction, AuctionOutcome, Side, SpyGame, SpyOutcome, SpyRole, Style};
use agentos_kernel::{Agent, Ending, Interruption, Kernel, RunSpec, Storage};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A response of a script: answers requests whose last user message contains `when`.
fn says(when: &str, content: impl Into<String>) -> Value {
    json!({ "when": when, "content": content.into() })
}

/// Writes the script of player `name` and returns its model URI.
fn script(dir: &Path, name: &str, responses: Vec<Value>) -> String {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, json!({ "native_tools": false, "responses": responses }).to_string()).unwrap();
    format!("scripted:{}", path.display())
}

/// A kernel over the database in `dir`; `live` (if given) counts the model steps it executes
/// rather than replays.
fn kernel(dir: &Path, live: Option<Arc<AtomicUsize>>) -> Kernel {
    let mut builder = Kernel::builder(Storage::open(dir.join("agentos.db")).unwrap());
    if let Some(live) = live {
        builder = builder.on_event(move |event| {
            if let Event::Step { step, replayed: false, .. } = event {
                if matches!(step.kind, StepKind::Model { .. }) {
                    live.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    builder.build().unwrap()
}

/// The run of game `name` with seat `i` on `models[i]` (its member is `member(i)`).
fn spec(name: String, models: &[String], member: fn(usize) -> String) -> RunSpec {
    let roles = models.iter().enumerate().map(|(i, uri)| (member(i), uri.clone())).collect();
    RunSpec { roles, ..RunSpec::new("Play the game.", name, models[0].clone()) }
}

/// Plays `game` to its end.
async fn play(kernel: &Kernel, game: &dyn Strategy, spec: RunSpec) -> (Agent, Ending) {
    let agent = kernel.start(spec).await.unwrap();
    let ending = drive(kernel, &agent, game).await.unwrap();
    (agent, ending)
}

/// The `team_stopped` event's payload: reason, round and the game's outcome in `detail`.
fn stopped(kernel: &Kernel, agent: &Agent) -> Value {
    let events = kernel.storage().events(agent.run()).unwrap();
    let stopped: Vec<&Value> = events.iter().filter(|(kind, _)| kind == "team_stopped").map(|(_, p)| p).collect();
    assert_eq!(stopped.len(), 1, "one stop: {events:?}");
    stopped[0].clone()
}

/// How many model steps each member journaled, by member name.
fn member_calls(kernel: &Kernel, team: &str) -> Vec<(String, usize)> {
    let members = kernel.storage().team_members(team).unwrap();
    members
        .into_iter()
        .map(|(name, run)| {
            let steps = kernel.storage().steps(&run).unwrap();
            (name, steps.iter().filter(|s| matches!(s.kind, StepKind::Model { .. })).count())
        })
        .collect()
}

/// A description that says none of the game's words.
fn vague(i: usize) -> Value {
    says("describe your word", format!("Let me think.\nDescription: Player {} thinks of something many people enjoy.", i + 1))
}

/// A vote in `round` for seat `target`.
fn vote(round: u32, target: usize) -> Value {
    says(&format!("Round {round}: vote"), format!("Hmm.\nVote: Player {}", target + 1))
}

/// A game of four players on scripts that `responses(seat)` gives, played to its end.
async fn spy_game(dir: &Path, game: &SpyGame, responses: impl Fn(usize) -> Vec<Value>) -> (Kernel, Agent, Ending, Value) {
    let models: Vec<String> = (0..game.players as usize).map(|i| script(dir, &SpyGame::member(i), responses(i))).collect();
    let kernel = kernel(dir, None);
    let (agent, ending) = play(&kernel, game, spec(game.strategy_name(), &models, SpyGame::member)).await;
    let stop = stopped(&kernel, &agent);
    (kernel, agent, ending, stop)
}

fn outcome(stop: &Value) -> SpyOutcome {
    serde_json::from_value(stop["detail"].clone()).unwrap()
}

#[tokio::test]
async fn the_civilians_win_by_voting_the_spy_out() {
    let dir = tempfile::tempdir().unwrap();
    let game = SpyGame::new(4, 3, 11, vec![Style::Cot, Style::Direct, Style::Cot, Style::Cot]).unwrap();
    let spy = game.deal().spy;
    let (kernel, agent, ending, stop) =
        spy_game(dir.path(), &game, |i| vec![vague(i), vote(1, if i == spy { (spy + 1) % 4 } else { spy })]).await;
    let Ending::Finished(answer) = ending else { panic!("{ending:?}") };
    assert!(answer.starts_with("the civilians win"), "{answer}");
    assert_eq!((stop["reason"].as_str(), stop["round"].as_u64()), (Some("answer"), Some(1)));
    let outcome = outcome(&stop);
    assert_eq!(outcome.winner, Some(Side::Civilians));
    assert_eq!(outcome.spy, SpyGame::member(spy));
    for (i, player) in outcome.players.iter().enumerate() {
        assert_eq!(player.role == SpyRole::Spy, i == spy);
        assert_eq!(player.won, i != spy, "{player:?}");
        assert_eq!(player.eliminated_in, (i == spy).then_some(1), "{player:?}");
        assert_eq!(player.votes_received, if i == spy { 3 } else { u32::from(i == (spy + 1) % 4) });
        assert_eq!(player.style, game.styles[i]);
        assert!(player.model.ends_with(&format!("{}.json", player.name)), "each player on its own model: {}", player.model);
    }
    assert_eq!(outcome.rounds[0].out.as_deref(), Some(SpyGame::member(spy).as_str()));
    let team = agent.run().as_str();
    assert!(member_calls(&kernel, team).iter().all(|(_, n)| *n == 2), "{:?}", member_calls(&kernel, team));
    assert_eq!(kernel.storage().board(team).unwrap().len(), 8, "four descriptions and four votes");
    // The second speaker read the first speaker's description before giving its own.
    let members = kernel.storage().team_members(team).unwrap();
    let steps = kernel.storage().steps(&members[1].1).unwrap();
    let first_read = steps.iter().find_map(|s| match &s.kind {
        StepKind::Message { op: MessageOp::Read { round: 0 }, posts } => Some(posts.iter().map(|p| p.sender.clone()).collect::<Vec<_>>()),
        _ => None,
    });
    assert_eq!(first_read, Some(vec!["player-1".to_string()]));
}

#[tokio::test]
async fn the_spy_wins_by_surviving_until_two_players_are_left() {
    let dir = tempfile::tempdir().unwrap();
    let game = SpyGame::new(4, 3, 5, vec![Style::Cot; 4]).unwrap();
    let spy = game.deal().spy;
    let civilians: Vec<usize> = (0..4).filter(|i| *i != spy).collect();
    // Round 1 puts the first civilian out, round 2 the second.
    let target = |round: u32, me: usize| {
        let aim = civilians[round as usize - 1];
        if me == aim {
            civilians[round as usize]
        } else {
            aim
        }
    };
    let (_, _, ending, stop) = spy_game(dir.path(), &game, |i| vec![vague(i), vote(1, target(1, i)), vote(2, target(2, i))]).await;
    let Ending::Finished(answer) = ending else { panic!("{ending:?}") };
    assert!(answer.starts_with("the spy wins"), "{answer}");
    assert_eq!((stop["reason"].as_str(), stop["round"].as_u64()), (Some("answer"), Some(2)));
    let outcome = outcome(&stop);
    assert_eq!(outcome.winner, Some(Side::Spy));
    let player = |i: usize| &outcome.players[i];
    assert!(player(spy).won && player(spy).eliminated_in.is_none());
    assert_eq!(player(civilians[0]).eliminated_in, Some(1));
    assert_eq!(player(civilians[1]).eliminated_in, Some(2));
    assert_eq!(player(civilians[2]).eliminated_in, None);
    assert!(civilians.iter().all(|c| !player(*c).won));
    assert_eq!(
        civilians.iter().map(|c| player(*c).votes_received).collect::<Vec<_>>(),
        vec![3, 3, 1],
        "round 1: three on the first and one on the second; round 2: two on the second, one on the third"
    );
}

#[tokio::test]
async fn a_player_who_says_its_own_word_is_disqualified() {
    let dir = tempfile::tempdir().unwrap();
    let game = SpyGame::new(4, 3, 2, vec![Style::Direct; 4]).unwrap();
    let deal = game.deal();
    let spy = deal.spy;
    let civilians: Vec<usize> = (0..4).filter(|i| *i != spy).collect();
    let blurts = civilians[0];
    let mut word = deal.civilian_word.to_string();
    word[..1].make_ascii_uppercase();
    let (kernel, agent, ending, stop) = spy_game(dir.path(), &game, |i| match i {
        i if i == blurts => vec![says("describe your word", format!("Description: {word}s, of course."))],
        i if i == spy => vec![vague(i), vote(1, civilians[1])],
        i => vec![vague(i), vote(1, spy)],
    })
    .await;
    assert!(matches!(&ending, Ending::Finished(a) if a.starts_with("the civilians win")), "{ending:?}");
    let outcome = outcome(&stop);
    let out = &outcome.players[blurts];
    assert!(out.disqualified && !out.won, "its side won, but it said its word: {out:?}");
    assert_eq!(out.eliminated_in, Some(1));
    assert_eq!(outcome.rounds[0].disqualified, vec![SpyGame::member(blurts)]);
    assert_eq!(outcome.rounds[0].votes.len(), 3, "the disqualified player does not vote");
    assert!(outcome.players[civilians[1]].won && outcome.players[civilians[2]].won);
    assert_eq!(outcome.players[spy].eliminated_in, Some(1));
    let calls = member_calls(&kernel, agent.run().as_str());
    assert_eq!(calls[blurts], (SpyGame::member(blurts), 1), "{calls:?}");
    let events = kernel.storage().events(agent.run()).unwrap();
    let dropped: Vec<&Value> = events.iter().filter(|(kind, _)| kind == "member_dropped").map(|(_, p)| p).collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        (dropped[0]["member"].as_str(), dropped[0]["reason"].as_str()),
        (Some(SpyGame::member(blurts).as_str()), Some("said its own word"))
    );
}

#[tokio::test]
async fn a_tied_vote_puts_nobody_out_and_an_invalid_vote_abstains() {
    let dir = tempfile::tempdir().unwrap();
    let game = SpyGame::new(5, 1, 9, vec![Style::Cot; 5]).unwrap();
    // Players 1 and 2 vote for Player 3, Players 3 and 4 for Player 1; Player 5 for itself.
    let targets = [2, 2, 0, 0, 4];
    let (_, _, ending, stop) = spy_game(dir.path(), &game, |i| vec![vague(i), vote(1, targets[i])]).await;
    assert!(matches!(&ending, Ending::Finished(a) if a.starts_with("the spy wins")), "{ending:?}");
    assert_eq!((stop["reason"].as_str(), stop["round"].as_u64()), (Some("max_rounds"), Some(1)));
    let outcome = outcome(&stop);
    assert_eq!(outcome.rounds[0].out, None);
    assert!(outcome.players.iter().all(|p| p.eliminated_in.is_none()), "{:?}", outcome.players);
    let received: Vec<u32> = outcome.players.iter().map(|p| p.votes_received).collect();
    assert_eq!(received, vec![2, 0, 2, 0, 0]);
    let invalid = &outcome.rounds[0].votes[4];
    assert_eq!((invalid.voter.as_str(), invalid.target.as_ref()), ("player-5", None));
    assert_eq!(invalid.invalid.as_deref(), Some("it votes for the voter itself"));
    assert_eq!(outcome.players[4].invalid_votes, 1);
}

/// An auction on scripts that `responses(seat)` gives, played to its end.
async fn auction(dir: &Path, game: &Auction, responses: impl Fn(usize) -> Vec<Value>) -> (Kernel, Agent, Ending, AuctionOutcome) {
    let models: Vec<String> = (0..game.bidders as usize).map(|i| script(dir, &Auction::member(i), responses(i))).collect();
    let kernel = kernel(dir, None);
    let (agent, ending) = play(&kernel, game, spec(game.strategy_name(), &models, Auction::member)).await;
    let stop = stopped(&kernel, &agent);
    assert_eq!(stop["reason"].as_str(), Some("answer"));
    let outcome = serde_json::from_value(stop["detail"].clone()).unwrap();
    (kernel, agent, ending, outcome)
}

#[tokio::test]
async fn the_highest_bidder_wins_at_its_bid_and_profits_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let game = Auction::new(2, 2, 3, 1000, 10, 20, vec![Style::Cot, Style::Direct]).unwrap();
    let lots = game.deal();
    let (first, second) = (&lots[0], &lots[1]);
    // Item 1: bidder 1 opens, bidder 2 raises by 30, bidder 1 withdraws. Item 2: bidder 1 bids
    // 5 over the start, bidder 2 withdraws at once.
    let (kernel, agent, ending, outcome) = auction(dir.path(), &game, |i| match i {
        0 => vec![
            says("Item 1 of 2, bidding round 1", format!("Bid: {}", first.start)),
            says("Item 1 of 2, bidding round 2", "Too rich for me.\nBid: withdraw"),
            says("Item 2 of 2, bidding round 1", format!("Bid: {}", second.start + 5)),
        ],
        _ => vec![
            says("Item 1 of 2, bidding round 1", format!("I want it.\n**Bid:** ${}", first.start + 30)),
            says("Item 2 of 2, bidding round 1", "Bid: pass"),
        ],
    })
    .await;
    assert!(matches!(&ending, Ending::Finished(_)), "{ending:?}");
    assert_eq!(outcome.sales[0].winner.as_deref(), Some("bidder-2"));
    assert_eq!(outcome.sales[0].price, Some(first.start + 30));
    assert_eq!((outcome.sales[0].rounds, outcome.sales[1].rounds), (2, 1));
    assert_eq!((outcome.sales[1].winner.as_deref(), outcome.sales[1].price), (Some("bidder-1"), Some(second.start + 5)));
    let (one, two) = (&outcome.players[0], &outcome.players[1]);
    assert_eq!(two.items_won, vec![first.name.clone()]);
    assert_eq!((two.spent, two.budget_left), (first.start + 30, 1000 - first.start - 30));
    assert_eq!(two.profit, first.value as i64 - (first.start + 30) as i64);
    assert_eq!(one.items_won, vec![second.name.clone()]);
    assert_eq!(one.profit, second.value as i64 - (second.start + 5) as i64);
    assert_eq!((one.bids, two.bids, one.invalid_bids + two.invalid_bids), (2, 1, 0));
    assert!(outcome.sales.iter().all(|s| s.invalid.is_empty()));
    // Before its second round, bidder 1 read bidder 2's raise from the board.
    let members = kernel.storage().team_members(agent.run().as_str()).unwrap();
    let reads: Vec<Vec<String>> = kernel
        .storage()
        .steps(&members[0].1)
        .unwrap()
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Message { op: MessageOp::Read { .. }, posts } => Some(posts.iter().map(|p| p.text.clone()).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(reads, vec![vec![format!("${}", first.start + 30)]]);
}

#[tokio::test]
async fn bids_over_budget_below_the_minimum_or_unreadable_count_as_withdrawals() {
    let dir = tempfile::tempdir().unwrap();
    let start = Auction::new(4, 1, 8, 1000, 10, 0, vec![Style::Direct; 4]).unwrap().deal()[0].start;
    let game = Auction::new(4, 1, 8, start + 20, 10, 0, vec![Style::Direct; 4]).unwrap();
    let lot = &game.deal()[0];
    assert_eq!(lot.start, start, "the budget does not change the deal");
    let (_, _, _, outcome) = auction(dir.path(), &game, |i| {
        let bid = match i {
            0 => format!("Bid: {}", start + 50),
            1 => format!("Bid: {start}"),
            2 => "Bid: 1".to_string(),
            _ => "I am not sure.".to_string(),
        };
        vec![says("bidding round 1", bid)]
    })
    .await;
    let sale = &outcome.sales[0];
    assert_eq!((sale.winner.as_deref(), sale.price, sale.rounds), (Some("bidder-2"), Some(start), 1));
    let reasons: Vec<(&str, &str)> = sale.invalid.iter().map(|b| (b.bidder.as_str(), b.reason.as_str())).collect();
    assert_eq!(
        reasons,
        vec![
            ("bidder-1", format!("{} is over its budget left, {}", start + 50, start + 20).as_str()),
            ("bidder-3", format!("1 is below the least bid, {start}").as_str()),
            ("bidder-4", "it holds neither a bid nor `withdraw`"),
        ]
    );
    let counted: Vec<(u32, u32, u64)> = outcome.players.iter().map(|p| (p.bids, p.invalid_bids, p.spent)).collect();
    assert_eq!(counted, vec![(0, 1, 0), (1, 0, start), (0, 1, 0), (0, 1, 0)]);
    assert_eq!(outcome.players[1].profit, lot.value as i64 - start as i64);
}

#[tokio::test]
async fn a_game_interrupted_mid_round_resumes_without_repeating_a_member_call() {
    let dir = tempfile::tempdir().unwrap();
    let game = SpyGame::new(4, 3, 11, vec![Style::Cot; 4]).unwrap();
    let spy = game.deal().spy;
    let civilians: Vec<usize> = (0..4).filter(|i| *i != spy).collect();
    // Round 1 puts the first civilian out; round 2 the spy. Player 4's first vote is held the
    // first time, so the team is interrupted with three votes of round 1 journaled.
    let responses = |i: usize, held: bool| {
        let first = if i == civilians[0] { civilians[1] } else { civilians[0] };
        let mut first = vote(1, first);
        if held && i == 3 {
            first["delay_ms"] = json!(60_000);
        }
        vec![vague(i), first, vote(2, if i == spy { civilians[1] } else { spy })]
    };
    let models: Vec<String> = (0..4).map(|i| script(dir.path(), &SpyGame::member(i), responses(i, true))).collect();
    let spec = spec(game.strategy_name(), &models, SpyGame::member);
    let first = kernel(dir.path(), None);
    let agent = first.start(spec).await.unwrap();
    let team = agent.run().as_str().to_string();
    let (watcher, run) = (first.clone(), agent.run().clone());
    let stopper = tokio::spawn(async move {
        let recorded = || member_calls(&watcher, run.as_str()).iter().map(|(_, n)| n).sum::<usize>();
        while recorded() < 7 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(watcher.interrupt(&run, Interruption::Other("SIGTERM".into())));
    });
    let ending = drive(&first, &agent, &game).await.unwrap();
    stopper.await.unwrap();
    assert_eq!(ending, Ending::Interrupted("SIGTERM".into()));
    let recorded: usize = member_calls(&first, &team).iter().map(|(_, n)| n).sum();
    assert_eq!(recorded, 7, "four descriptions and three votes of round 1 were journaled");
    assert_eq!(first.storage().board(&team).unwrap().len(), 4, "the votes were not posted yet");
    drop(agent);
    drop(first);

    // A new process: the held vote now answers at once.
    for i in 0..4 {
        script(dir.path(), &SpyGame::member(i), responses(i, false));
    }
    let live = Arc::new(AtomicUsize::new(0));
    let second = kernel(dir.path(), Some(live.clone()));
    let rebuilt = agentos_gym::games::strategy(&second.storage().run(&team).unwrap().strategy).unwrap().unwrap();
    let resumed = second.restore(second.snapshot(&team).unwrap()).await.unwrap();
    let ending = drive(&second, &resumed, rebuilt.as_ref()).await.unwrap();
    assert!(matches!(&ending, Ending::Finished(a) if a.starts_with("the civilians win")), "{ending:?}");
    assert_eq!(live.load(Ordering::SeqCst), 14 - 7, "only the unrecorded member calls ran: one vote of round 1, all of round 2");
    assert_eq!(second.storage().board(&team).unwrap().len(), 14, "no message was posted twice");
    let outcome = outcome(&stopped(&second, &resumed));
    assert_eq!((outcome.players[civilians[0]].eliminated_in, outcome.players[spy].eliminated_in), (Some(1), Some(2)));
}

#[test]
fn stored_names_read_back_and_bad_settings_name_their_flag() {
    let game = SpyGame::new(5, 4, 42, vec![Style::Cot, Style::Direct, Style::Cot, Style::Cot, Style::Direct]).unwrap();
    assert_eq!(SpyGame::parse(&game.strategy_name()).unwrap(), game);
    let auction = Auction::new(3, 4, 7, 300, 5, 25, vec![Style::Direct; 3]).unwrap();
    assert_eq!(Auction::parse(&auction.strategy_name()).unwrap(), auction);
    assert_eq!(SpyGame::new(2, 3, 0, vec![Style::Cot; 2]).unwrap_err().to_string(), "--players 2: must be from 3 to 8");
    assert_eq!(Auction::new(3, 0, 0, 100, 10, 20, vec![Style::Cot; 3]).unwrap_err().to_string(), "--items 0: must be from 1 to 20");
    assert!(SpyGame::parse("spygame:players=4,rounds=3,seed=1,styles=cot+cot").unwrap_err().to_string().contains("give one per seat"));
    assert!(agentos_gym::games::strategy("react").is_none());
    // The same seed deals the same game.
    assert_eq!(game.deal(), SpyGame { seed: 42, ..game.clone() }.deal());
    assert_eq!(auction.deal(), auction.clone().deal());
}
