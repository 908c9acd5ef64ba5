//! α-UMi (Shen et al., 2024, "Small LLMs Are Weak Tool Learners: A Multi-LLM Agent"): tool use
//! split over three LLMs, a planner that decides each next step, a caller that turns the planner's
//! rationale into a tool call, and a summarizer that writes the final answer, so that each can be
//! a small model trained for its one job.
//!
//! What it does: three members, `planner`, `caller` and `summarizer`, each on its role's model
//! (`--role planner=URI`, `caller=…`, `summarizer=…`; the run's model otherwise). The caller is
//! granted the team run's tools. In step r the planner, which keeps its own growing conversation,
//! posts a rationale ending `Next: caller` or `Next: summarizer` (the tools it can plan with are
//! listed in its role prompt). On `Next: caller` the caller reads the rationale from the team's
//! board and makes ONE tool call: a native tool call on its request (tools: the team run's
//! granted tools), run by the caller member's journaled, access-checked `call_tools`; only the
//! first call of its reply is made, and a reply without one makes none. The caller keeps its own
//! conversation of rationales, calls and results, and posts the call with its observation, which
//! the planner reads as its next turn's input. On anything but `Next: caller` (`summarizer`, no
//! `Next:` line) the summarizer reads every round's messages and writes the answer
//! ([`StopReason::Answer`]); after the run's `max_steps` planner steps it does so anyway
//! ([`StopReason::MaxRounds`]). The detail of the `team_stopped` event lists the tools called.
//!
//! Where it deviates: α-UMi fine-tunes one backbone on all the sub-tasks and then each role on its
//! own; here the roles are prompted (any model slots in with `--role`). Its planner can also say
//! "give up", and its caller writes `Action:` / `Action Input:` text, where here the planner's
//! other replies go to the summarizer and the caller calls tools natively. A budget that runs out
//! stops the team without an answer ([`StopReason::Budget`]): only the summarizer answers.

use crate::team::{conclude, framed, labeled, reply, request, say, Outcome, PLANNER_ROLE};
use crate::{extract_answer, sampling, AgentError, Strategy};
use agentos_core::{arguments_text, ChatRequest, Message, ToolSpec};
use agentos_kernel::{Agent, MemberSpec, StopReason, Team};
use async_trait::async_trait;
use serde_json::json;

/// α-UMi's planner → caller → summarizer. See the module documentation.
pub struct Umi;

/// The caller's role.
pub const CALLER_ROLE: &str = "caller";
/// The summarizer's role.
pub const SUMMARIZER_ROLE: &str = "summarizer";

/// The planner's role prompt, before the list of tools.
const PLANNER: &str = "You are the planner of a team of three that solves the user's task with tools. \
You decide each next step: a caller turns your rationale into one tool call and you see its result, \
and a summarizer writes the final answer. Think about what is known and what is still needed, \
and say in your rationale which tool to call next and with which arguments.";

/// What the planner's reply ends with.
const NEXT_FORMAT: &str = "End your reply with a last line `Next: caller` when a tool call should be made next, \
or `Next: summarizer` when the task can be answered from what is known.";

/// The caller's role prompt.
const CALLER: &str = "You are the caller of a team of three. A planner tells you in words what to do next; \
make exactly one tool call that does it, with arguments that match the tool's JSON schema.";

/// The summarizer's role prompt.
const SUMMARIZER: &str = "You are the summarizer of a team of three. You are given a task, the planner's rationales \
and the tool calls the caller made with their results; write the final answer to the task from them.";

/// The planner's role prompt with the tools the caller can call.
fn planner_role(tools: &[ToolSpec]) -> String {
    if tools.is_empty() {
        return format!("{PLANNER} The caller has no tools.");
    }
    let listing: Vec<String> =
        tools.iter().map(|t| format!("- {}: {} Arguments (JSON Schema): {}", t.name, t.description, t.parameters)).collect();
    format!("{PLANNER}\n\nThe caller's tools:\n{}", listing.join("\n"))
}

/// Whether the planner's `rationale` hands the next step to the caller.
fn calls_next(rationale: &str) -> bool {
    labeled(rationale, "next").is_some_and(|next| {
        let next = next.to_ascii_lowercase();
        next.contains(CALLER_ROLE) && !next.contains(SUMMARIZER_ROLE)
    })
}

#[async_trait]
impl Strategy for Umi {
    fn name(&self) -> &'static str {
        "umi"
    }

    fn roles(&self) -> &'static [&'static str] {
        &[PLANNER_ROLE, CALLER_ROLE, SUMMARIZER_ROLE]
    }

    async fn run(&self, agent: &Agent) -> Result<String, AgentError> {
        let tools = agent.tools();
        let member =
            |name: &str, role: String| MemberSpec { model: Some(agent.role_model(name).to_string()), ..MemberSpec::new(name, role) };
        let members = vec![
            member(PLANNER_ROLE, planner_role(&tools)),
            MemberSpec { tools: tools.iter().map(|t| t.name.clone()).collect(), ..member(CALLER_ROLE, CALLER.into()) },
            member(SUMMARIZER_ROLE, SUMMARIZER.into()),
        ];
        let team = agent.team(members).await?;
        let played = play(agent, &team, &tools).await;
        conclude(team, played).await
    }
}

/// The planner's steps, each but the last followed by the caller's tool call, then the summary.
async fn play(agent: &Agent, team: &Team<'_>, tools: &[ToolSpec]) -> Result<Outcome, AgentError> {
    let [planner, caller, summarizer] = team.members() else { unreachable!("a planner, a caller and a summarizer") };
    let temperature = sampling(agent).temperature;
    let (mut planning, mut calling) = (vec![Message::user(agent.task())], vec![Message::user(agent.task())]);
    let mut called: Vec<String> = Vec::new();
    let spent =
        |round, called: &[String]| Ok(Outcome { answer: None, reason: StopReason::Budget, round, detail: json!({ "calls": called }) });
    // Rounds 0..steps hold a rationale and a call each; the planner's last round may hold only its
    // rationale, handing over to the summarizer.
    let mut steps = 0;
    let mut handed_over = false;
    while steps < agent.spec().max_steps {
        let Some(rationale) = say(team, planner, steps, framed(planner, NEXT_FORMAT, planning.clone(), temperature, 0)).await? else {
            return spent(steps, &called);
        };
        planning.push(Message::assistant(rationale.clone()));
        if !calls_next(&rationale) {
            handed_over = true;
            break;
        }
        let asked: Vec<String> = team.read(caller, steps).await?.into_iter().map(|p| p.text).collect();
        calling
            .push(Message::user(format!("The planner's rationale:\n{}\n\nMake the one tool call it asks for.", asked.join("\n\n").trim())));
        let request = ChatRequest { tools: tools.to_vec(), ..framed(caller, "", calling.clone(), temperature, 0) };
        let Some(response) = reply(caller, request).await? else { return spent(steps, &called) };
        let mut message = response.message;
        let observation = match message.tool_calls.first().cloned() {
            Some(call) => {
                message.tool_calls.truncate(1);
                calling.push(message);
                let result = caller.call_tools(std::slice::from_ref(&call)).await?.remove(0);
                calling.push(Message::tool(result.call_id, result.content.clone()));
                called.push(call.name.clone());
                format!("Action: {}({})\nObservation: {}", call.name, arguments_text(&call.arguments), result.content)
            }
            None => {
                let text = message.content();
                calling.push(message);
                format!("The caller made no tool call; it said: {}", text.trim())
            }
        };
        team.post(caller, steps, &observation, response.usage.output_tokens).await?;
        let seen: Vec<String> = team.read(planner, steps).await?.into_iter().map(|p| p.text).collect();
        planning.push(Message::user(format!("The caller's result:\n{}", seen.join("\n\n"))));
        steps += 1;
    }

    let mut context = format!("Task:\n{}", agent.task());
    for round in 0..steps + u32::from(handed_over) {
        let posts = team.read(summarizer, round).await?;
        for (sender, heading) in [(PLANNER_ROLE, "Planner's rationale"), (CALLER_ROLE, "Caller's tool call")] {
            if let Some(post) = posts.iter().find(|p| p.sender == sender) {
                context.push_str(&format!("\n\n{heading} (step {}):\n{}", round + 1, post.text.trim()));
            }
        }
    }
    let ask = request(summarizer, vec![Message::user(context)], temperature, 0);
    let Some(summary) = say(team, summarizer, steps, ask).await? else { return spent(steps, &called) };
    let reason = if handed_over { StopReason::Answer } else { StopReason::MaxRounds };
    Ok(Outcome { answer: Some(extract_answer(&summary)), reason, round: steps, detail: json!({ "calls": called }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_line_picks_who_goes_next() {
        assert!(calls_next("Go to A first.\nNext: caller"));
        assert!(calls_next("Go to A first.\n**Next:** Caller."));
        assert!(!calls_next("We are at A.\nNext: summarizer"));
        assert!(!calls_next("Next: caller\nActually we know enough.\nNext: Summarizer"), "the last line counts");
        assert!(!calls_next("The answer is 7."), "no Next line: the summarizer");
    }
}
