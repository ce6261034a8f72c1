# Firebreak's remediation gate: may the agent carry out this one action, now?
#
# Each rule adds a human-readable reason to `deny`, `approval` or `allow`. The verdict takes the strongest:
# deny wins over require_approval, which wins over allow, and an action no rule allows is denied.
# `escalate` (paging a person) is never denied and never waits.
#
# input: agent/policy/input.py (PolicyInput; times in Unix seconds).
# data.firebreak.config: policies/data.yaml, validated by agent/policy/data.py.
# The gate queries data.firebreak.remediation.result: {decision, reasons, dry_run}.
# rego-cpp quirks the messages work around: sprintf knows only %s and %v (any other verb leaves the message,
# and so its rule, undefined), and its %s quotes a string made by concat, so those messages use concat.
package firebreak.remediation

import rego.v1

cfg := data.firebreak.config

action := input.action

# Every check below applies to everything but escalate.
gated if action.kind != "escalate"

target_kind := split(action.target, "/")[0]

target_name := trim_prefix(action.target, concat("", [target_kind, "/"]))

# What each action kind acts on: any other target is a planning mistake.
target_kinds := {
	"scale_deployment": {"deployment"},
	"restart_deployment": {"deployment"},
	"rollback_deployment": {"deployment"},
	"delete_pod": {"pod"},
	"cordon_node": {"node"},
	"drain_node": {"node"},
	"failover_provider": {"provider"},
	"set_route_weights": {"model"},
}

namespaced := {"deployment", "pod"}

namespace := object.get(action, "namespace", "")

# --- what the action is, and where ---

deny contains msg if {
	gated
	not target_kinds[action.kind]
	msg := sprintf("unknown action kind %s", [action.kind])
}

deny contains msg if {
	gated
	kinds := target_kinds[action.kind]
	not target_kind in kinds
	wanted := concat(" or ", [concat("", [k, "/NAME"]) | some k in sorted(kinds)])
	msg := concat("", [action.kind, " acts on ", wanted, ", not on ", action.target])
}

deny contains msg if {
	gated
	target_kind in namespaced
	namespace == ""
	msg := sprintf("%s is namespaced but the action names no namespace", [action.target])
}

deny contains msg if {
	gated
	namespace != ""
	not namespace in cfg.allowed_namespaces
	allowed := concat(", ", cfg.allowed_namespaces)
	msg := concat("", ["namespace ", namespace, " is not allowed (allowed: ", allowed, ")"])
}

deny contains msg if {
	gated
	target_kinds[action.kind]
	not action.kind in cfg.kinds.auto_allowed
	not action.kind in cfg.kinds.require_approval
	msg := sprintf("%s is neither auto-allowed nor approvable under this policy", [action.kind])
}

approval contains msg if {
	gated
	action.kind in cfg.kinds.require_approval
	msg := sprintf("%s always needs a person's approval", [action.kind])
}

# --- replica bounds ---

bounds := object.get(cfg.replicas.deployments, target_name, cfg.replicas.default)

scale_to := n if {
	action.kind == "scale_deployment"
	n := action.params.replicas
	is_number(n)
	n == floor(n)
}

deny contains "scale_deployment needs params.replicas, a whole number" if {
	action.kind == "scale_deployment"
	not scale_to
}

deny contains msg if {
	scale_to > bounds.max
	msg := sprintf("scaling %s to %v replicas is above its maximum of %v", [target_name, scale_to, bounds.max])
}

deny contains msg if {
	scale_to < bounds.min
	msg := sprintf("scaling %s to %v replicas is below its minimum of %v", [target_name, scale_to, bounds.min])
}

approval contains msg if {
	scale_to < input.fleet.replicas
	msg := sprintf(
		"scaling %s down from %v to %v replicas removes capacity during an incident",
		[target_name, input.fleet.replicas, scale_to],
	)
}

# --- disruption budget, counted as a PodDisruptionBudget would ---

disruptions := object.get(input.fleet, "disruptions", [])

budget(d) := max([cfg.disruption.min_pods, floor(d.replicas * cfg.disruption.max_unavailable_fraction)])

unavailable_after(d) := max([d.replicas - d.ready, 0]) + d.disrupted

deny contains msg if {
	gated
	some d in disruptions
	d.disrupted > 0
	d.ready - d.disrupted < 1
	msg := sprintf("%s would take down every serving pod of %s (%v ready)", [action.kind, d.deployment, d.ready])
}

approval contains msg if {
	gated
	some d in disruptions
	d.disrupted > 0
	unavailable_after(d) > budget(d)
	msg := sprintf(
		"%s would leave %v of %v pods of %s unavailable, over its disruption budget of %v",
		[action.kind, unavailable_after(d), d.replicas, d.deployment, budget(d)],
	)
}

approval contains msg if {
	action.kind in cfg.disruption.requires_facts
	count(disruptions) == 0
	msg := sprintf("%s came without pod facts, so its disruption budget cannot be checked", [action.kind])
}

# --- rate limits ---

counted(a) if not a.status in cfg.rate_limits.uncounted_statuses

recent_same := [a |
	some a in input.recent_actions
	a.kind == action.kind
	a.target == action.target
	input.now - a.at < cfg.rate_limits.per_target.window_s
	counted(a)
]

deny contains msg if {
	gated
	limit := cfg.rate_limits.per_target
	count(recent_same) >= limit.max_actions
	msg := sprintf(
		"rate limit: %s on %s ran %v time(s) in the last %v s (at most %v)",
		[action.kind, action.target, count(recent_same), limit.window_s, limit.max_actions],
	)
}

deny contains msg if {
	gated
	limit := cfg.rate_limits.per_incident.max_actions
	input.incident.actions_taken >= limit
	msg := sprintf(
		"incident %s already took %v actions (at most %v): escalate instead",
		[input.incident.id, input.incident.actions_taken, limit],
	)
}

# --- change freezes ---

now_ns := round(input.now * 1000000000)

minute_of_day(hhmm) := m if {
	parts := split(hhmm, ":")
	m := (to_number(parts[0]) * 60) + to_number(parts[1])
}

active_freezes contains w if {
	some w in cfg.freeze.windows
	time.parse_rfc3339_ns(w.start) <= now_ns
	now_ns < time.parse_rfc3339_ns(w.end)
}

active_freezes contains w if {
	some w in cfg.freeze.windows
	time.weekday(now_ns) in w.weekly.days
	clock := time.clock(now_ns)
	minute := (clock[0] * 60) + clock[1]
	minute_of_day(w.weekly.from) <= minute
	minute < minute_of_day(w.weekly.to)
}

freeze_reason(w) := sprintf("change freeze (%s) until %s", [w.reason, w.end]) if w.end

freeze_reason(w) := msg if {
	days := concat(", ", w.weekly.days)
	msg := concat("", ["change freeze (", w.reason, ") on ", days, ", ", w.weekly.from, "-", w.weekly.to, " UTC"])
}

deny contains freeze_reason(w) if {
	gated
	cfg.freeze.mode == "deny"
	some w in active_freezes
}

approval contains freeze_reason(w) if {
	gated
	cfg.freeze.mode == "require_approval"
	some w in active_freezes
}

# --- gateway traffic ---

new_weights := w if {
	action.kind == "set_route_weights"
	w := action.params.weights
	is_object(w)
	every _, v in w {
		is_number(v)
		v >= 0
	}
}

deny contains "set_route_weights needs params.weights, {backend: percent}" if {
	action.kind == "set_route_weights"
	not new_weights
}

approval contains "set_route_weights came without the current weights, so the traffic shift cannot be measured" if {
	new_weights
	not input.fleet.route_weights
}

# Percentage points of the model's traffic that change backend.
traffic_shift := s if {
	old := input.fleet.route_weights
	backends := object.keys(old) | object.keys(new_weights)
	s := sum([abs(object.get(new_weights, b, 0) - object.get(old, b, 0)) | some b in backends]) / 2
}

approval contains msg if {
	traffic_shift > cfg.traffic.approval_above_shift_pct
	limit := cfg.traffic.approval_above_shift_pct
	msg := sprintf("set_route_weights moves %v%% of %s's traffic, more than %v%%", [traffic_shift, target_name, limit])
}

# --- allow ---

allow contains "escalate is always allowed: paging a person is never blocked" if action.kind == "escalate"

allow contains msg if {
	action.kind in cfg.kinds.auto_allowed
	msg := sprintf("%s on %s is auto-allowed and passed every check", [action.kind, action.target])
}

# --- verdict ---

default dry_run := false

dry_run if {
	gated
	cfg.dry_run
}

dry_run if {
	gated
	input.dry_run
}

# rego-cpp's sort() of a set gives back a set: sort an array of its members instead.
sorted(items) := sort([x | some x in items])

default verdict := {"decision": "deny", "reasons": ["no rule allowed this action"]}

verdict := {"decision": "deny", "reasons": sorted(deny)} if {
	count(deny) > 0
} else := {"decision": "require_approval", "reasons": sorted(approval)} if {
	count(approval) > 0
} else := {"decision": "allow", "reasons": sorted(allow)} if {
	count(allow) > 0
}

dry_run_notes := ["dry-run: record the action, do not carry it out"] if dry_run

default dry_run_notes := []

result := {
	"decision": verdict.decision,
	"reasons": array.concat(verdict.reasons, dry_run_notes),
	"dry_run": dry_run,
}
