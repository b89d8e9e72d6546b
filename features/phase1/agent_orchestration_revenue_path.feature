@phase1 @L4 @mrr:200000
Feature: Agent orchestration revenue path
  The path that earns the money: a paying tenant asks for an AI-spend optimization, the
  platform's agents do the work with a language model, and the tenant receives the report and is
  billed exactly for it, once. Billing too much loses the customer, billing too little or twice
  loses the margin or the trust, and a lost report loses both. $200,000 of monthly recurring
  revenue rides on it.

  Here the suite is a customer of the running platform: it connects as a tenant's client would,
  and the language model answers as each scenario scripts it.

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

  Rule: A paying tenant receives the complete report and is billed the priced tokens plus margin, once

    @scripted_llm
    Scenario: A mid-tier tenant's AI-spend optimization
      Given Acme is on the mid tier
      And the model answers Acme's agents with these token counts:
        | agent         | prompt tokens | of which cached | completion tokens |
        | triage        | 1,200         | 0               | 300               |
        | data analysis | 4,000         | 1,000           | 800               |
        | optimization  | 2,500         | 0               | 600               |
        | report        | 3,000         | 0               | 1,500             |
      When Acme asks for an AI-spend optimization
      Then Acme receives the complete report, after progress from each agent in this order:
        | agent         | model  | cost     |
        | triage        | small  | $0.00018 |
        | data analysis | medium | $0.0213  |
        | optimization  | large  | $0.111   |
        | report        | medium | $0.0315  |
      And Acme is billed once for the run: $0.16398 of model cost plus 20%, $0.196776 in all

  Rule: A free-tier tenant's run uses only the small model

    Each call below costs $0.0001005, which is rounded once, half to even, to $0.0001.

    @scripted_llm
    Scenario: Every agent of a free-tier run calls the small model
      Given Acme is on the free tier
      And the model answers every call with 1,260 prompt tokens and 20 completion tokens
      When Acme asks for an AI-spend optimization
      Then Acme receives the complete report, after progress from each agent in this order:
        | agent         | model | cost    |
        | triage        | small | $0.0001 |
        | data analysis | small | $0.0001 |
        | optimization  | small | $0.0001 |
        | report        | small | $0.0001 |
      And the model was asked only for the small model on Acme's behalf
      And Acme is billed once for the run: $0.0004 of model cost plus 50%, $0.0006 in all

  Rule: A cost between two micro-dollars is rounded half to even: once per call, once per run

    Each call is priced exactly and rounded once; the run's charge, its cost plus the margin, is
    rounded once more. Here the triage call costs $0.0001015 and is rounded up to the even
    $0.000102; the report call costs $0.0018003 and is rounded down to $0.0018; the run's
    $0.009402 plus 30% is $0.0122226, charged as $0.012223.

    @scripted_llm
    Scenario: An early-tier run whose costs fall between micro-dollars
      Given Acme is on the early tier
      And the model answers Acme's agents with these token counts:
        | agent         | prompt tokens | of which cached | completion tokens |
        | triage        | 2,025         | 1,025           | 20                |
        | data analysis | 1,000         | 0               | 100               |
        | optimization  | 1,000         | 0               | 0                 |
        | report        | 1,001         | 1,001           | 100               |
      When Acme asks for an AI-spend optimization
      Then Acme receives the complete report, after progress from each agent in this order:
        | agent         | model  | cost      |
        | triage        | small  | $0.000102 |
        | data analysis | medium | $0.0045   |
        | optimization  | medium | $0.003    |
        | report        | medium | $0.0018   |
      And Acme is billed once for the run: $0.009402 of model cost plus 30%, $0.012223 in all

  Rule: The run's charge appears in the usage analytics exactly as billed

    @scripted_llm
    Scenario: Ledger and analytics agree for two tenants running at the same time
      Given Acme is on the mid tier
      And Globex is on the early tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      When Acme and Globex each ask for an AI-spend optimization at the same time
      Then the billing ledger and the usage analytics both show one run for each tenant:
        | tenant | charge    |
        | Acme   | $0.084456 |
        | Globex | $0.031824 |

  Rule: A model failure mid-run costs the tenant nothing

    @scripted_llm
    Scenario: The model goes down during the optimization step
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And the model answers 2 calls for Acme with 1,200 prompt tokens and 300 completion tokens, then goes down
      When Acme asks for an AI-spend optimization
      Then Acme is told the run failed because the model is unavailable, and that it was not charged
      And Acme has been charged nothing
      And the usage analytics show nothing for Acme
      And Acme has used 10 requests this billing period
      And Acme has no runs in progress

    @scripted_llm
    Scenario: A model that reports more cached tokens than it was sent is not believed
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And the model answers Acme's agents with these token counts:
        | agent         | prompt tokens | of which cached | completion tokens |
        | triage        | 1,200         | 0               | 300               |
        | data analysis | 1,000         | 1,001           | 800               |
        | optimization  | 2,500         | 0               | 600               |
        | report        | 3,000         | 0               | 1,500             |
      When Acme asks for an AI-spend optimization
      Then Acme is told the run failed because the model is unavailable, and that it was not charged
      And Acme has been charged nothing
      And the usage analytics show nothing for Acme
      And Acme has used 10 requests this billing period
      And Acme has no runs in progress

  Rule: A client that loses its connection mid-run gets its report when it comes back, billed once

    @scripted_llm
    Scenario Outline: The connection drops during the optimization step
      Given Acme is on the mid tier
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      And the model takes its time over Acme's optimization call
      When Acme's connection drops during the optimization step and Acme reconnects <when>
      Then Acme is told the run <state>
      And Acme receives the complete report
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all

      Examples: Back before or after the run ends
        | when                           | state                |
        | while the run is still working | is still in progress |
        | after the run has finished     | has finished         |

  Rule: The same request sent twice runs once and is billed once

    @scripted_llm @replicas
    Scenario: The same request arrives twice at the same time, through two gateway instances
      Given Acme is on the mid tier with 10 of its 10,000 monthly requests used
      And the model answers every call with 1,200 prompt tokens and 300 completion tokens
      When Acme sends the same optimization request twice at the same time, through 2 gateway instances
      Then each of Acme's connections receives the same complete report
      And the model was called 4 times on Acme's behalf, once per agent
      And Acme is billed once for the run: $0.07038 of model cost plus 20%, $0.084456 in all
      And Acme has used 11 requests this billing period

  Rule: A request is decided once, whoever sends it; a refused request may be sent again

    While the platform decides whether to admit a request, every connection that sends it gets
    that decision. A refused request counts for nothing, so the same request can be sent again
    later and is decided afresh.

    @replicas
    Scenario: The same request sent twice while the tier's runs at once are all in use is refused on both connections
      Given Acme is on the free tier with 2 runs in progress
      When Acme sends the same optimization request twice at the same time, through 2 gateway instances
      Then each of Acme's connections is refused because the tier's runs at once are all in use
      And Acme has used 2 requests this billing period
      And Acme has been billed for 2 requests

    @scripted_llm
    Scenario: A refused request sent again once a run has finished is admitted and run once
      Given Acme is on the free tier with 2 runs in progress
      And the model answers every call with 1,260 prompt tokens and 20 completion tokens
      And Acme's optimization request was refused because the tier's runs at once are all in use
      And one of Acme's runs has finished
      When Acme sends the refused request again
      Then Acme receives the complete report
      And the model was called 4 times on Acme's behalf, once per agent
      And Acme has used 3 requests this billing period

  Rule: Only a live key the platform issued opens a connection

    Scenario Outline: A connection with <key> is refused before any message is exchanged
      Given Acme is on the mid tier
      When a client connects with <key>
      Then the connection is refused as unauthorised
      And Acme has been charged nothing
      And Acme has used 0 requests this billing period

      Examples: Keys that open nothing
        | key                                        |
        | a key the platform never issued            |
        | Acme's key, after Acme revoked it          |
        | Acme's key with its last character changed |
        | no key at all                              |

  Rule: A message the platform cannot understand gets a protocol error and disturbs nothing else

    Scenario Outline: A malformed message leaves the connection usable
      Given Acme is on the mid tier
      And Acme is connected to the platform
      When Acme sends a malformed message: <message>
      Then Acme gets a protocol error saying <problem>
      And Acme still gets a complete report over the same connection

      Examples: Malformed messages
        | message                                 | problem                          |
        | a message of a kind nobody defined      | the message type is unknown      |
        | text that is not JSON                   | the message is not valid JSON    |
        | a run request without a request id      | a request id is needed           |
        | a message nested a thousand levels deep | the message is nested too deeply |

    @scripted_llm
    Scenario: A message over the size limit closes only the sender's connection
      Given Acme is on the mid tier
      And Globex is on the mid tier, with a run waiting on the model
      When Acme sends a message of 65 KiB, over the 64 KiB limit
      Then Acme's connection is closed because the message is too big
      And once the model answers, Globex receives the complete report
      And Acme can connect again and get a complete report
