@phase3 @L4 @mrr:75000
Feature: Message processing dead-letter queue
  A job the platform cannot process must neither vanish nor be retried forever. A run lost
  without a word is a customer waiting for a report that never comes, and a quota unit neither
  billed nor given back; a job retried forever keeps a worker busy while paying runs wait.
  $75,000 of monthly recurring revenue rides on every job being either processed or set aside
  where an operator sees it, fixes its cause and sends it through again, once.

  The product promises zero loss and 3 attempts. An attempt is one delivery of the job to a
  worker, whatever that worker retries within it, and a worker that dies during a delivery has
  used it up. A run that ends with a failure its customer is told about at once (the model is
  unavailable) is a processed job and is not attempted again. A run stopped by an unexpected
  error is attempted again after a short wait, up to its queue's number of attempts; after the
  last one it is set aside in the dead-letter queue with the reason, the attempts, the first
  and last error and the time it was set aside, and its customer is told the run failed, gets
  the quota unit back and pays nothing.

  Redriving a set-aside run is a new attempt at the same request: its customer was told it
  failed and got the quota unit back, so the run is admitted again under the tenant's limits,
  runs once, is billed once, and its customer finds the report under the same request. Redriving
  it again changes nothing; a redriven run that fails again is set aside again, with its history.

  Background:
    Given each queue gives a message this many attempts before setting it aside:
      | queue        | attempts |
      | run jobs     | 3        |
      | usage events | 3        |
    And a dead letter is kept 14 days from when it was set aside

  Rule: A run that fails on every attempt is set aside after its 3rd; its customer is told and pays nothing

    @scripted_llm
    Scenario: Every attempt at Acme's run fails in the optimization step
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And the model's answer to Acme's optimization call always holds a character no record can store
      When Acme asks for an AI-spend optimization
      Then Acme is told its run failed on an internal error on each of its 3 attempts, and that it was not charged
      And the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 3     |
      And the dead-letter queue holds Acme's run, set aside at the platform's current time:
        | queue    | reason               | attempts | first error                     | last error                      |
        | run jobs | every attempt failed | 3        | a character no record can store | a character no record can store |
      And no job is left pending on the run jobs queue
      And Acme has been charged nothing
      And Acme has used 10 requests this billing period
      And Acme has no runs in progress

  Rule: A worker that dies during an attempt has used it up

    The run is not attempted a fourth time: the next worker to receive it sees its 3 attempts
    made, and sets it aside without running it.

    @scripted_llm @faults
    Scenario: The worker running Acme's third and last attempt dies
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And the model answers Acme's optimization calls in turn:
        | call  | answer                                |
        | 1st   | holds a character no record can store |
        | 2nd   | holds a character no record can store |
        | 3rd   | takes its time                        |
        | later | holds a character no record can store |
      When Acme asks for an AI-spend optimization, and the worker running it is killed while the model takes its time
      Then Acme is told its run failed on an internal error on each of its 3 attempts, and that it was not charged
      And the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 3     |
      And the dead-letter queue holds Acme's run, set aside at the platform's current time:
        | queue    | reason               | attempts | first error                     | last error                            |
        | run jobs | every attempt failed | 3        | a character no record can store | its worker stopped during the attempt |
      And no job is left pending on the run jobs queue
      And Acme has been charged nothing
      And Acme has used 10 requests this billing period
      And Acme has no runs in progress

  Rule: A failure that clears before the last attempt costs the customer nothing extra

    @scripted_llm
    Scenario: Acme's run fails on its first attempt and succeeds on its second
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model's first answer to Acme's optimization call holds a character no record can store
      When Acme asks for an AI-spend optimization
      Then Acme receives the complete report, after progress from each agent in this order:
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
      And the dead-letter queue holds nothing of Acme's
      And Acme has used 1 request this billing period

  Rule: Operators list the dead-letter queue by queue and by tenant

    @scripted_llm
    Scenario Outline: The operator lists <which>
      Given Acme is on the mid tier
      And Globex is on the early tier
      And a run of Acme's and a run of Globex's were each set aside after 3 failed attempts
      When the operator lists <which>
      Then the operator sees <what>

      Examples: Every queue, one queue, one tenant
        | which                                 | what                        |
        | the dead-letter queue                 | Acme's run and Globex's run |
        | the dead letters of the run jobs      | Acme's run and Globex's run |
        | Acme's dead letters                   | Acme's run alone            |
        | the dead letters of the usage events  | neither run                 |

  Rule: A redriven run is a new attempt at the same request: admitted again, run once, billed once

    @scripted_llm
    Scenario: The operator redrives Acme's run twice once its cause is fixed
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And Acme's run was set aside after 3 failed attempts
      And the model's answers to Acme's optimization call can be stored again
      When the operator redrives Acme's dead letter twice
      Then the first redrive sends Acme's run through again, and the second finds it sent already
      And Acme finds the complete report under the same request
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 4     |
        | report        | 1     |
      And the dead-letter queue holds nothing of Acme's
      And Acme has used 11 requests this billing period
      And Acme has no runs in progress

    @scripted_llm
    Scenario: A redriven run that fails again is set aside again, with its history
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And Acme's run was set aside after 3 failed attempts
      When the operator redrives Acme's dead letter, before its cause is fixed
      Then the dead-letter queue holds Acme's run again, after 3 more attempts, set aside 1 time before
      And the model was asked on Acme's behalf:
        | agent         | times |
        | triage        | 1     |
        | data analysis | 1     |
        | optimization  | 6     |
      And no job is left pending on the run jobs queue
      And Acme has been charged nothing
      And Acme has used 10 requests this billing period
      And Acme has no runs in progress

  Rule: A usage record the analytics refuses is set aside, found by the reconciliation, and redriven once

    A billed run's usage record goes to the usage analytics, which reviewers and finance read.
    A record the analytics refuses (a change there that the record breaks) is attempted 3
    times like any message, then set aside without holding up anyone else's. The customer's
    report and bill are not affected. The operator's reconciliation of ledger and analytics
    names the billed charge the analytics lacks and the dead letter holding its record; once
    the analytics takes the record, a redrive of the usage events' dead letters brings the two
    into agreement.

    @scripted_llm @faults
    Scenario: The usage analytics refuses Acme's usage record on every attempt
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the usage analytics refuses every record of Acme's
      When Acme asks for an AI-spend optimization
      Then Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And the dead-letter queue holds Acme's usage record, set aside at the platform's current time:
        | queue        | reason               | attempts | first error                          | last error                           |
        | usage events | every attempt failed | 3        | a record the usage analytics refuses | a record the usage analytics refuses |
      And no record is left pending on the usage events queue
      And the usage analytics show nothing for Acme
      And the reconciliation finds Acme's $0.084456 charge missing from the usage analytics, its record in the dead-letter queue

    @scripted_llm @faults
    Scenario: The operator redrives the usage events' dead letters once the analytics takes them again
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And Acme's usage record was set aside after 3 failed attempts
      And the usage analytics takes Acme's records again
      When the operator redrives every dead letter of the usage events
      Then the operator's redrive sent Acme's dead letter through
      And the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
      And the reconciliation finds Acme's ledger and usage analytics agreeing at $0.084456
      And the dead-letter queue holds nothing of Acme's

  Rule: A dead letter is kept 14 days from when it was set aside, then purged

    @scripted_llm
    Scenario Outline: The operator purges dead letters <days> days after they were set aside
      Given Acme is on the mid tier
      And Acme's run was set aside after 3 failed attempts
      When <days> days pass and the operator purges expired dead letters
      Then Acme's dead letter is <kept>

      Examples: Before and after the 14 days
        | days | kept       |
        | 13   | still kept |
        | 15   | purged     |
