@phase2 @L4 @mrr:100000
Feature: Agent state recovery
  A paid run must survive the death of the worker running it. A run left hanging is a customer
  who waits for a report that never comes and a quota unit neither billed nor given back; a run
  redone from the start is the model paid twice and, if billed again, a customer charged twice.
  $100,000 of monthly recurring revenue rides on runs that finish, once, whatever happens to
  the machine running them.

  The product promises that a run whose worker dies is resumed within 30 seconds. The platform
  does better: a worker holds each run on a short lease that it renews while it works, so a
  live worker keeps its runs however long a step takes, and once a dead worker's lease runs out
  another worker takes the run over, going on from the last step that completed.

  Background:
    Given model calls are priced per million tokens:
      | model  | input  | cached input | output |
      | small  | $0.075 | $0.02        | $0.30  |
      | medium | $3     | $0.30        | $15    |
      | large  | $30    | $15          | $60    |
    And a run is charged its model cost plus its tier's margin:
      | tier       | margin |
      | free       | 50%    |
      | early      | 30%    |
      | mid        | 20%    |
      | enterprise | 15%    |
    And the workers hold each run on a 2-second lease, renewed while they work

  Rule: A run whose worker dies mid-step is taken over, completed once and billed once

    The steps that completed before the death are not done again: the model is asked once for
    each of them, and twice for the step the worker died in (once by the dead worker, once by
    the one that took over). The bill is that of a run nothing happened to.

    @scripted_llm @faults
    Scenario: The worker running a run is killed during the optimization step
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's optimization call
      When the worker running Acme's run is killed during the optimization step
      Then another worker takes Acme's run over within 4 seconds of the kill: the 2-second lease plus 2 seconds
      And Acme receives the complete report, after progress from each agent in this order:
        | agent         | model  | cost     |
        | triage        | small  | $0.00018 |
        | data analysis | medium | $0.0081  |
        | optimization  | large  | $0.054   |
        | report        | medium | $0.0081  |
      And Acme heard every event of the run once, in order, without a gap
      And the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 2     |
        | report        | 1     |
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
      And Acme has used 1 request this billing period
      And Acme has no runs in progress
