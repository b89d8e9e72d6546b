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

    @scripted_llm @faults
    Scenario: The client's connection drops with the worker, and the client comes back during the take-over
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's optimization call
      When the worker running Acme's run is killed during the optimization step, the client's connection dropping with it, and the client reconnects at once
      Then Acme is told the run is still in progress
      And another worker takes Acme's run over within 4 seconds of the kill: the 2-second lease plus 2 seconds
      And Acme receives the complete report, after progress from each agent in this order:
        | agent         | model  | cost     |
        | triage        | small  | $0.00018 |
        | data analysis | medium | $0.0081  |
        | optimization  | large  | $0.054   |
        | report        | medium | $0.0081  |
      And the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 2     |
        | report        | 1     |
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And Acme has no runs in progress

  Rule: A worker paused past its lease wakes to find the run taken over, and gives it up

    A worker can stop without dying: a frozen machine or a stalled process outlasts its lease,
    another worker takes the run over and finishes it, and the first one wakes in the middle of
    the step it was on. Before anything more it learns the run is no longer its own, and stops:
    the model is not asked again for it, nothing is billed or sent twice.

    @scripted_llm @faults
    Scenario: The worker running Acme's run is paused during the optimization step and wakes after the take-over
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's optimization call
      When the worker running Acme's run is paused during the optimization step, and another worker finishes the run
      And the paused worker wakes up
      Then the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 2     |
        | report        | 1     |
      And the worker that woke up gave Acme's run up
      And Acme heard every event of the run once, in order, without a gap
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
      And Acme has used 1 request this billing period
      And Acme has no runs in progress

  Rule: A live worker keeps its run's slot however long the run takes

    A run in progress holds one of its tier's runs at once. The slot is leased on the
    platform's clock, so that a dead worker's slot frees itself, and a live worker renews the
    lease each time a third of it has passed: a run that works for minutes keeps its slot to
    the end, and is billed as any other.

    @scripted_llm
    Scenario: A run whose optimization step takes 2 minutes keeps its slot to the end
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's optimization call
      And a run holds its slot on a 30-second lease of the platform's clock, renewed every 10 seconds while it works
      When Acme's optimization step takes 2 minutes by the platform's clock
      Then Acme's run held its slot all through the 2 minutes, its lease renewed 12 times
      And Acme receives the complete report, after progress from each agent in this order:
        | agent         | model  | cost     |
        | triage        | small  | $0.00018 |
        | data analysis | medium | $0.0081  |
        | optimization  | large  | $0.054   |
        | report        | medium | $0.0081  |
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And Acme has used 1 request this billing period
      And Acme has no runs in progress

  Rule: A store restarted with its data loses nothing and bills nothing twice

    The platform's store (where runs wait for a worker and quotas are counted) is restarted the
    orderly way, writing its data down first. Runs in progress go on; nothing is lost.

    @scripted_llm @faults @store_faults
    Scenario: The store is restarted during the optimization step
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's optimization call
      When the store is restarted with its data during Acme's optimization step
      Then Acme receives the complete report
      And Acme heard every event of the run once, in order, without a gap
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
      And Acme has used 1 request this billing period
      And Acme has no runs in progress
      And every platform process kept running through the fault

  Rule: A store that stops answering for a few seconds stops no worker and leaves no client silent

    While the store is silent, workers wait for it rather than die; the run goes on once the
    store answers again and completes, billed once, the client hearing every event.

    @scripted_llm @faults @store_faults
    Scenario: The store stops answering for 3 seconds while the report is being written
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's report call
      When the store stops answering for 3 seconds during Acme's report step
      Then Acme receives the complete report
      And Acme heard every event of the run once, in order, without a gap
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
      And Acme has used 1 request this billing period
      And Acme has no runs in progress
      And every platform process kept running through the fault

  Rule: After the store loses its data, the platform rebuilds it from its records before it admits anything

    The records (tenants and their tiers, the billing ledger, every admitted run) are kept in
    the platform's database; the store holds working copies. Until the store holds them again,
    the platform reports itself not ready and admits nothing; each tenant's quota is counted
    again from its records, so nobody gets more than they paid for.

    A run admitted but not yet billed when the data went keeps its place: its admission is on
    record with its quota unit, so it still counts against the quota, it is taken up again by a
    worker from its last completed step, and it is billed once when it completes (or, if it
    fails, its unit is given back and nothing is billed).

    @scripted_llm @faults @store_faults
    Scenario: The store loses its data while a run is in progress
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's data analysis call
      When the store loses all its data during Acme's data analysis step
      Then no platform process reported ready before the store was rebuilt
      And Acme receives the complete report
      And Acme heard every event of the run once, in order, without a gap
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
      And Acme has used 1 request this billing period
      And Acme has no runs in progress

    @scripted_llm @faults @store_faults
    Scenario: A tenant near the end of its quota gets no more than its quota after the data went
      Given Acme is on the free tier with 98 of its 100 monthly requests billed
      And Acme has a run in progress, waiting on the model
      And the store has lost all its data
      When Acme makes 2 requests
      Then the first request is admitted
      And the second request is refused because the monthly quota is used, offering the early tier
      And Acme has 1 run in progress
      And once the model answers, Acme receives the complete report
      And Acme has used 100 requests this billing period

  Rule: Nothing billed is missing from the usage analytics, even when the store loses it on its way

    A usage record is written with the charge it describes, in one step, and handed on to the
    usage analytics until the analytics confirm they have it: a record the store lost before
    the analytics took it is handed on again, and counted once.

    @scripted_llm @faults @store_faults
    Scenario: The store loses its data before the usage analytics took a billed run
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the usage analytics has stopped taking events
      And Acme has received the complete report of a run
      And the usage record of Acme's run is on its way to the usage analytics
      When the store loses all its data, and the usage analytics starts again
      Then the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |

  Rule: The platform keeps its copy of a usage record until the usage analytics confirm it, and 7 days more

    The copy is what hands a record on again when the store loses it on its way. Once the usage
    analytics confirm a record, its copy is kept 7 days by the platform's clock, then removed,
    so the copies do not pile up for ever; the charge stays in the billing ledger. A record the
    analytics have not confirmed keeps its copy however old it is.

    @scripted_llm @faults
    Scenario: A confirmed usage record's copy is removed once 7 days have passed, not before
      Given Acme is on the mid tier
      And Globex is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And Acme has received the complete report of a run, its usage record confirmed by the usage analytics
      And a second passes
      And Globex has received the complete report of a run, its usage record confirmed by the usage analytics
      When 7 days pass
      Then the platform no longer keeps a copy of Acme's usage record
      And the platform still keeps a copy of Globex's usage record, confirmed by the usage analytics
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
        | Globex | $0.084456 |

    @scripted_llm @faults
    Scenario: A usage record the analytics have not confirmed keeps its copy however old it is
      Given Acme is on the mid tier
      And Globex is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And Globex has received the complete report of a run, its usage record confirmed by the usage analytics
      And the usage analytics has stopped taking events
      And Acme has received the complete report of a run
      When 30 days pass
      Then the platform no longer keeps a copy of Globex's usage record
      And the platform still keeps a copy of Acme's usage record, waiting for the usage analytics
      When the usage analytics starts again
      Then the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
        | Globex | $0.084456 |
