//! Who is the spy (SpyGame; Liang et al., 2023): every player gets a secret word; all but one
//! get the same word, and the spy, chosen by the seed, gets a different but related one. Nobody
//! is told whether they are the spy.
//!
//! Each round, every player still in the game describes its word in one sentence without saying
//! it, in turn (the first speaker moves one seat on each round): it reads the round's earlier
//! descriptions from the board, then posts its own. A player whose description says its own
//! word (or its plural) is disqualified: out of the game at once, and it wins nothing whichever
//! side wins. Then every player still in reads the round's descriptions and votes, all at once,
//! for the player it thinks is the spy (a post, `Vote: Player 3`, read by [`named_number`]); a
//! vote that names no player, itself or a player who is out is recorded as abstaining. The
//! player with the most votes is out; a tie puts nobody out. The game tells the players the
//! votes and who is out (and that they were not the spy).
//!
//! The civilians win once the spy is out (voted out or disqualified); the spy wins when it
//! survives until two players are left, or the last round. Board rounds: a game round `r`'s
//! descriptions are board round `2(r-1)`, its votes `2(r-1)+1`.

use super::{answer_line, ask, check_range, check_styles, named_number, styles_setting, GameError, Rng, Settings, Style};
use agentos_agents::team::{conclude, Outcome};
use agentos_agents::{AgentError, Strategy};
use agentos_core::{Message, Post};
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The word pairs: each pair's words are different but related, so that a description of one
/// could be of the other. The seed picks a pair and which of its words the spy gets.
pub const WORD_PAIRS: &[(&str, &str)] = &[
    ("apple", "pear"),
    ("coffee", "tea"),
    ("piano", "guitar"),
    ("cat", "dog"),
    ("train", "bus"),
    ("beach", "desert"),
    ("sun", "moon"),
    ("doctor", "nurse"),
    ("pizza", "burger"),
    ("football", "basketball"),
    ("river", "lake"),
    ("pen", "pencil"),
    ("wolf", "fox"),
    ("violin", "cello"),
    ("butter", "cheese"),
    ("rose", "tulip"),
    ("snow", "rain"),
    ("library", "bookstore"),
    ("bicycle", "motorcycle"),
    ("candle", "lamp"),
    ("chess", "checkers"),
    ("honey", "jam"),
    ("mirror", "window"),
    ("shark", "dolphin"),
];

/// Who is the spy with `players` players over at most `rounds` rounds, dealt by `seed`. See the
/// module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpyGame {
    /// How many players.
    pub players: u32,
    /// The most rounds; the spy wins if it is still in after the last.
    pub rounds: u32,
    /// What deals the words and picks the spy.
    pub seed: u64,
    /// Each player's style, by seat.
    pub styles: Vec<Style>,
}

/// What the seed deals: the spy's seat and the two words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deal {
    /// The spy's seat, from 0 (its member is `player-<spy + 1>`).
    pub spy: usize,
    /// The civilians' word.
    pub civilian_word: &'static str,
    /// The spy's word.
    pub spy_word: &'static str,
}

/// A player's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpyRole {
    /// The one with the other word.
    Spy,
    /// One of the others.
    Civilian,
}

/// The side that won.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The spy survived.
    Spy,
    /// The spy was put out.
    Civilians,
}

/// One player's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpyPlayer {
    /// Its member name, `player-<n>`.
    pub name: String,
    /// Its model URI.
    pub model: String,
    /// How it answered.
    pub style: Style,
    /// Its side.
    pub role: SpyRole,
    /// Its secret word.
    pub word: String,
    /// Whether its side won and it was not disqualified.
    pub won: bool,
    /// The round it was put out in (voted out or disqualified), if it was.
    pub eliminated_in: Option<u32>,
    /// The valid votes it received, over all rounds.
    pub votes_received: u32,
    /// Whether it said its own word.
    pub disqualified: bool,
    /// Its votes recorded as abstaining because they named no player, itself or a player who
    /// was out.
    pub invalid_votes: u32,
}

/// One player's description of a round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    /// Who.
    pub player: String,
    /// Its description, as posted.
    pub text: String,
}

/// One vote of a round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Who voted.
    pub voter: String,
    /// Its vote, as posted.
    pub said: String,
    /// The player it counts for; `None`: it abstained.
    pub target: Option<String>,
    /// Why it was recorded as abstaining, when it was.
    pub invalid: Option<String>,
}

/// One round of the game.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpyRound {
    /// The round, from 1.
    pub round: u32,
    /// The descriptions, in speaking order.
    pub descriptions: Vec<Said>,
    /// The players disqualified for saying their word.
    pub disqualified: Vec<String>,
    /// The votes (none when the game ended before them).
    pub votes: Vec<Vote>,
    /// Who was voted out (`None`: a tie, or no vote).
    pub out: Option<String>,
}

/// How a game of Who is the spy went: the `detail` of its team's `team_stopped` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpyOutcome {
    /// `spygame`.
    pub game: String,
    /// The side that won; `None` when the game stopped first (a budget ran out).
    pub winner: Option<Side>,
    /// The spy's member name.
    pub spy: String,
    /// The civilians' word.
    pub civilian_word: String,
    /// The spy's word.
    pub spy_word: String,
    /// The rounds played.
    pub rounds: Vec<SpyRound>,
    /// Each player's outcome, by seat.
    pub players: Vec<SpyPlayer>,
}

impl SpyGame {
    /// The numbers of players a game may have.
    pub const PLAYERS: RangeInclusive<u32> = 3..=8;
    /// The numbers of rounds a game may have.
    pub const ROUNDS: RangeInclusive<u32> = 1..=10;

    /// A game, its settings checked (errors name the flag of `agentos play spygame`).
    pub fn new(players: u32, rounds: u32, seed: u64, styles: Vec<Style>) -> Result<SpyGame, GameError> {
        check_range("players", players, Self::PLAYERS)?;
        check_range("rounds", rounds, Self::ROUNDS)?;
        check_styles("players", players, &styles)?;
        Ok(SpyGame { players, rounds, seed, styles })
    }

    /// Its stored strategy name, which [`SpyGame::parse`] reads back:
    /// `spygame:players=4,rounds=3,seed=7,styles=cot+cot+direct+cot`.
    pub fn strategy_name(&self) -> String {
        format!("spygame:players={},rounds={},seed={},styles={}", self.players, self.rounds, self.seed, styles_setting(&self.styles))
    }

    /// Reads a stored strategy name back (see [`SpyGame::strategy_name`]).
    pub fn parse(name: &str) -> Result<SpyGame, GameError> {
        let settings = Settings::parse(name, "spygame", &["players", "rounds", "seed", "styles"])?;
        let game = SpyGame::new(settings.number("players")?, settings.number("rounds")?, settings.number("seed")?, settings.styles()?);
        game.map_err(|e| GameError::Name { name: name.to_string(), reason: e.to_string() })
    }

    /// The member name of seat `i` (from 0): `player-<i + 1>`.
    pub fn member(i: usize) -> String {
        format!("player-{}", i + 1)
    }

    /// What the seed deals.
    pub fn deal(&self) -> Deal {
        let mut rng = Rng::new(self.seed);
        let (a, b) = WORD_PAIRS[rng.below(WORD_PAIRS.len())];
        let (civilian_word, spy_word) = if rng.below(2) == 0 { (a, b) } else { (b, a) };
        Deal { spy: rng.below(self.players as usize), civilian_word, spy_word }
    }

    /// Seat `i`'s role prompt: who it is and the rules.
    fn role(&self, i: usize) -> String {
        let seats: Vec<String> = (0..self.players as usize).map(label).collect();
        format!(
            "You are {} in the party game \"Who is the spy\", with {} players: {}. Every player was given a secret word. \
             All players but one got the same word; one player, the spy, got a different but related word. Nobody is told \
             whether they are the spy. Each round, every player describes their word in one sentence without saying it, then \
             everyone votes for the player they think is the spy; the player with the most votes is out (a tie puts nobody \
             out). The civilians win when the spy is out; the spy wins by staying in until only two players are left or \
             until the end of round {}. A player who says their own word is out at once and cannot win. Describe your word \
             so that the players who share it recognise you, without giving it away to a spy.",
            label(i),
            self.players,
            seats.join(", "),
            self.rounds
        )
    }
}

/// Seat `i`'s name as the players read it: `Player <i + 1>`.
fn label(i: usize) -> String {
    format!("Player {}", i + 1)
}

/// Whether `text` says `word` (or its plural), as a whole word, in any case.
///
/// ```
/// use agentos_gym::games::spygame::says_word;
/// assert!(says_word("I love Apples in autumn.", "apple"));
/// assert!(!says_word("It grows on a pineapple plant.", "apple"));
/// ```
pub fn says_word(text: &str, word: &str) -> bool {
    let tokens = |s: &str| -> Vec<String> {
        s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(String::from).collect()
    };
    let (said, word) = (tokens(text), tokens(word));
    let Some((last, head)) = word.split_last() else { return false };
    said.windows(word.len()).any(|w| {
        let (w_last, w_head) = w.split_last().expect("windows are not empty");
        w_head == head && [last.clone(), format!("{last}s"), format!("{last}es")].contains(w_last)
    })
}

/// The game as it stands: each seat's outcome so far.
struct Table {
    players: Vec<SpyPlayer>,
    spy: usize,
}

impl Table {
    /// The seats still in the game.
    fn live(&self) -> Vec<usize> {
        (0..self.players.len()).filter(|i| self.players[*i].eliminated_in.is_none()).collect()
    }

    /// The side that has won, if one has: the civilians once the spy is out, the spy once two
    /// players are left.
    fn winner(&self) -> Option<Side> {
        if self.players[self.spy].eliminated_in.is_some() {
            Some(Side::Civilians)
        } else if self.live().len() <= 2 {
            Some(Side::Spy)
        } else {
            None
        }
    }

    /// Which live player `said` votes for, from seat `voter`, or why it counts as abstaining.
    fn vote(&self, voter: usize, said: &str) -> Result<usize, String> {
        let n = named_number(said).ok_or("it names no player")? as usize;
        if n == 0 || n > self.players.len() {
            return Err(format!("there is no Player {n}"));
        }
        if n - 1 == voter {
            return Err("it votes for the voter itself".into());
        }
        if self.players[n - 1].eliminated_in.is_some() {
            return Err(format!("Player {n} is already out"));
        }
        Ok(n - 1)
    }

    /// Counts a round's votes (each voter's target, `None` abstaining) and puts out the one
    /// player with the most, if one has more than every other.
    fn tally(&mut self, round: u32, targets: &[Option<usize>]) -> Option<usize> {
        let mut counts = vec![0u32; self.players.len()];
        for target in targets.iter().flatten() {
            counts[*target] += 1;
            self.players[*target].votes_received += 1;
        }
        let most = *counts.iter().max()?;
        let leaders: Vec<usize> = (0..counts.len()).filter(|i| counts[*i] == most).collect();
        let [out] = leaders[..] else { return None };
        if most == 0 {
            return None;
        }
        self.players[out].eliminated_in = Some(round);
        Some(out)
    }
}

/// The posts of a round in speaking order, one `Player <n>: text` line each.
fn in_order(posts: &[Post], order: &[usize]) -> String {
    order
        .iter()
        .filter_map(|i| posts.iter().find(|p| p.sender == SpyGame::member(*i)).map(|p| format!("{}: {}", label(*i), p.text)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[async_trait]
impl Strategy for SpyGame {
    fn name(&self) -> &'static str {
        "spygame"
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let members = (0..self.players as usize)
            .map(|i| {
                let name = SpyGame::member(i);
                MemberSpec { model: agent.spec().roles.get(&name).cloned(), ..MemberSpec::new(name, self.role(i)) }
            })
            .collect();
        let team = agent.team(members).await?;
        let played = self.play(&team).await;
        conclude(team, played).await
    }
}

impl SpyGame {
    async fn play(&self, team: &Team<'_>) -> Result<Outcome, AgentError> {
        let deal = self.deal();
        let members = team.members();
        let word = |i: usize| if i == deal.spy { deal.spy_word } else { deal.civilian_word };
        let players = (0..members.len())
            .map(|i| SpyPlayer {
                name: SpyGame::member(i),
                model: members[i].spec().model.clone(),
                style: self.styles[i],
                role: if i == deal.spy { SpyRole::Spy } else { SpyRole::Civilian },
                word: word(i).to_string(),
                won: false,
                eliminated_in: None,
                votes_received: 0,
                disqualified: false,
                invalid_votes: 0,
            })
            .collect();
        let mut table = Table { players, spy: deal.spy };
        let mut log: Vec<SpyRound> = Vec::new();
        // What each player's next prompt begins with: what it learnt since its last one.
        let mut news: Vec<String> = (0..members.len()).map(|i| format!("Your secret word is \"{}\".\n\n", word(i))).collect();
        let mut talks: Vec<Vec<Message>> = vec![Vec::new(); members.len()];
        let seed = |i: usize| self.seed.wrapping_add(i as u64);
        for round in 1..=self.rounds {
            log.push(SpyRound { round, ..SpyRound::default() });
            let said = 2 * (round - 1);
            let live = table.live();
            let first = (round as usize - 1) % live.len();
            let order: Vec<usize> = live[first..].iter().chain(&live[..first]).copied().collect();
            for &i in &order {
                let heard = in_order(&team.read(&members[i], said).await?, &order);
                let before = if heard.is_empty() {
                    "You speak first this round.".to_string()
                } else {
                    format!("Descriptions so far this round:\n{heard}")
                };
                talks[i].push(Message::user(format!(
                    "{}{before}\n\nRound {round}: describe your word in one sentence without saying it. \
                     Answer on a last line `Description: <your sentence>`.",
                    std::mem::take(&mut news[i])
                )));
                let Some(mut reply) = ask(vec![(&members[i], &talks[i], self.styles[i], seed(i))]).await? else {
                    return Ok(self.stopped(table, log, deal, None, round));
                };
                let reply = reply.remove(0);
                let text = reply.message.content();
                talks[i].push(Message::assistant(text.clone()));
                let description = answer_line(&text, "Description");
                team.post(&members[i], said, &description, reply.usage.output_tokens).await?;
                let entry = log.last_mut().expect("this round's entry");
                entry.descriptions.push(Said { player: SpyGame::member(i), text: description.clone() });
                if says_word(&description, word(i)) {
                    table.players[i].disqualified = true;
                    table.players[i].eliminated_in = Some(round);
                    entry.disqualified.push(SpyGame::member(i));
                    team.drop_member(&members[i], round, "said its own word").await?;
                }
            }
            if let Some(side) = table.winner() {
                return Ok(self.stopped(table, log, deal, Some(side), round));
            }
            let voters = table.live();
            let entry = log.last_mut().expect("this round's entry");
            let out_now: String =
                entry.disqualified.iter().map(|p| format!("\n{} said their own word and is out of the game.", label_of(p))).collect();
            for &i in &voters {
                let heard = in_order(&team.read(&members[i], said).await?, &order);
                let own = entry.descriptions.iter().find(|s| s.player == SpyGame::member(i)).map_or("", |s| s.text.as_str());
                let others: Vec<String> = voters.iter().filter(|j| **j != i).map(|j| label(*j)).collect();
                talks[i].push(Message::user(format!(
                    "Descriptions of round {round}:\n{heard}\n{} (you): {own}{out_now}\n\nRound {round}: vote for the player you think is \
                     the spy: one of {} (not yourself). Answer on a last line `Vote: Player <number>`.",
                    label(i),
                    others.join(", ")
                )));
            }
            let asked = voters.iter().map(|i| (&members[*i], talks[*i].as_slice(), self.styles[*i], seed(*i))).collect();
            let Some(replies) = ask(asked).await? else {
                return Ok(self.stopped(table, log, deal, None, round));
            };
            let mut targets = Vec::new();
            for (&i, reply) in voters.iter().zip(replies) {
                let text = reply.message.content();
                talks[i].push(Message::assistant(text.clone()));
                let vote = answer_line(&text, "Vote");
                team.post(&members[i], said + 1, &vote, reply.usage.output_tokens).await?;
                let counted = table.vote(i, &vote);
                if counted.is_err() {
                    table.players[i].invalid_votes += 1;
                }
                targets.push(counted.as_ref().ok().copied());
                let entry = log.last_mut().expect("this round's entry");
                entry.votes.push(Vote {
                    voter: SpyGame::member(i),
                    said: vote,
                    target: counted.as_ref().ok().map(|t| SpyGame::member(*t)),
                    invalid: counted.err(),
                });
            }
            let out = table.tally(round, &targets);
            let entry = log.last_mut().expect("this round's entry");
            entry.out = out.map(SpyGame::member);
            let announced = announce(entry, out, deal.spy, &table.live());
            for i in table.live() {
                news[i] = announced.clone();
            }
            if let Some(side) = table.winner() {
                return Ok(self.stopped(table, log, deal, Some(side), round));
            }
        }
        Ok(self.stopped(table, log, deal, Some(Side::Spy), self.rounds))
    }

    /// The outcome once the game is over (`winner`), or stopped before it was (`None`: a budget
    /// ran out) in `round`.
    fn stopped(&self, mut table: Table, rounds: Vec<SpyRound>, deal: Deal, winner: Option<Side>, round: u32) -> Outcome {
        for player in &mut table.players {
            let side = if player.role == SpyRole::Spy { Side::Spy } else { Side::Civilians };
            player.won = winner == Some(side) && !player.disqualified;
        }
        let spy = SpyGame::member(deal.spy);
        let answer = winner.map(|side| match side {
            Side::Civilians => {
                let how = if table.players[deal.spy].disqualified { "was disqualified for saying its word" } else { "was voted out" };
                format!("the civilians win: the spy {spy} (word \"{}\") {how} in round {round}", deal.spy_word)
            }
            Side::Spy => format!("the spy wins: {spy} (word \"{}\", the others' \"{}\") survived", deal.spy_word, deal.civilian_word),
        });
        let at_limit = winner == Some(Side::Spy) && round == self.rounds && table.live().len() > 2;
        let reason = match winner {
            None => StopReason::Budget,
            Some(_) if at_limit => StopReason::MaxRounds,
            Some(_) => StopReason::Answer,
        };
        let outcome = SpyOutcome {
            game: "spygame".into(),
            winner,
            spy,
            civilian_word: deal.civilian_word.into(),
            spy_word: deal.spy_word.into(),
            rounds,
            players: table.players,
        };
        Outcome { answer, reason, round, detail: serde_json::to_value(outcome).expect("an outcome serializes") }
    }
}

/// `player-3` as the players read it: `Player 3`.
fn label_of(member: &str) -> String {
    member.strip_prefix("player-").map_or_else(|| member.to_string(), |n| format!("Player {n}"))
}

/// What the game tells the players still in after a round's vote: every vote, and who is out.
fn announce(round: &SpyRound, out: Option<usize>, spy: usize, live: &[usize]) -> String {
    let votes: Vec<String> = round
        .votes
        .iter()
        .map(|v| match &v.target {
            Some(target) => format!("{} voted for {}", label_of(&v.voter), label_of(target)),
            None => format!("{} abstained", label_of(&v.voter)),
        })
        .collect();
    let result = match out {
        Some(out) if out == spy => format!("{} got the most votes and is out; they were the spy.", label(out)),
        Some(out) => format!("{} got the most votes and is out; they were not the spy.", label(out)),
        None => "The vote was tied: nobody is out.".to_string(),
    };
    let still: Vec<String> = live.iter().map(|i| label(*i)).collect();
    format!("Round {} votes: {}. {result} Still in the game: {}.\n\n", round.round, votes.join("; "), still.join(", "))
}
