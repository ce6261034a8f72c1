"""The remediation policy: the Rego gate (`gate`), the question it is asked (`input`), its validated data
document (`data`), and the facts about an action's target it reads through the tools before it rules
(`facts`). `firebreak policy check DIR` checks that a policy directory loads."""
