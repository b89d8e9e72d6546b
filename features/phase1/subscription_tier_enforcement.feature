@phase1 @L3 @mrr:347000
Feature: Subscription tier enforcement
  Every tier buys a monthly number of requests and a number of agent runs at once. Customers get
  exactly what they pay for: never less, which costs their trust, and never more, which gives away
  capacity that upgrades would have paid for. $347,000 of monthly recurring revenue rides on it.

  Rule: The catalog sells what the product promises

    Scenario: The tiers on offer
      When a customer looks at the tiers on offer
      Then the catalog offers exactly these tiers:
        | tier       | requests per month | runs at once | tool calls per day | LLM budget per day | models               | price per request |
        | free       | 100                | 2            | 50                 | $1                 | small                | included          |
        | early      | 1,000              | 5            | 500                | $10                | small, medium        | included          |
        | mid        | 10,000             | 20           | 5,000              | $100               | small, medium, large | included          |
        | enterprise | unlimited          | 100          | unlimited          | by contract        | small, medium, large | $0.01             |

  Rule: Each tier's monthly request quota is exact

    Scenario Outline: The last request of the quota is admitted and the next one is refused with an upgrade offer
      Given Acme is on the <tier> tier with <used> of its <quota> monthly requests used
      When Acme makes 2 requests
      Then the first request is admitted
      And the second request is refused because the monthly quota is used, offering the <offer> tier
      And the refusal says sending it again this billing period will not help

      Examples: Every capped tier
        | tier  | used  | quota  | offer      |
        | free  | 99    | 100    | early      |
        | early | 999   | 1,000  | mid        |
        | mid   | 9,999 | 10,000 | enterprise |

    Scenario: A refused request uses no quota and is not billed
      Given Acme is on the free tier with 100 of its 100 monthly requests used
      When Acme makes 5 requests
      Then all 5 requests are refused because the monthly quota is used
      And Acme has used 100 requests this billing period
      And Acme has been billed for 0 requests

  Rule: Runs at once are capped per tier

    Scenario Outline: Simultaneous runs beyond the tier's cap are refused
      Given Acme is on the <tier> tier
      When Acme starts <attempts> runs at the same time
      Then <admitted> runs are admitted
      And <refused> runs are refused because the tier's runs at once are all in use
      And each refusal says to try again once a run has finished

      Examples: Every tier
        | tier       | attempts | admitted | refused |
        | free       | 3        | 2        | 1       |
        | early      | 6        | 5        | 1       |
        | mid        | 25       | 20       | 5       |
        | enterprise | 101      | 100      | 1       |

    Scenario: A finished run frees its slot
      Given Acme is on the free tier with 2 runs in progress
      And one of Acme's runs has finished
      When Acme starts 1 run
      Then 1 run is admitted

    Scenario Outline: The slot of a crashed worker is freed when its 30-second lease runs out, not before
      Given Acme is on the free tier with 2 runs in progress
      And the worker of one of Acme's runs has crashed
      And <seconds> seconds have passed, the other run's worker staying alive
      When Acme starts 2 runs
      Then <admitted> runs are admitted
      And <refused> runs are refused because the tier's runs at once are all in use

      Examples: Around the lease expiry
        | seconds | admitted | refused |
        | 29      | 0        | 2       |
        | 29.999  | 0        | 2       |
        | 30      | 1        | 1       |

    Scenario: A crashed worker that comes back after its lease ran out does not get its slot back
      Given Acme is on the free tier with 2 runs in progress
      And the worker of one of Acme's runs has crashed
      And 30 seconds have passed, the other run's worker staying alive
      When the crashed worker comes back and renews its run's slot
      Then the renewal is refused, the slot being gone
      And Acme has 1 run in progress

  Rule: Enterprise has no request cap, but every request is metered

    Scenario: An enterprise tenant far beyond any tier's quota is admitted and billed per request
      Given Acme is on the enterprise tier with 250,000 requests used this billing period
      When Acme makes 10 requests
      Then all 10 requests are admitted
      And the billing ledger and the usage analytics both show:
        | tenant | requests | amount |
        | Acme   | 10       | $0.10  |

    Scenario: A batch is metered per request it carries
      Given Acme is on the enterprise tier
      When a request arrives from Acme as a batch of 7
      Then the request is admitted
      And the billing ledger and the usage analytics both show one charge to Acme for 7 requests, $0.07 in all
      And Acme has used 7 requests this billing period

  Rule: A change of tier takes effect on the very next request

    Scenario: An upgrade lifts the quota at once
      Given Acme is on the free tier with 100 of its 100 monthly requests used
      And Acme has just upgraded to the early tier
      When Acme makes 1 request
      Then the request is admitted

    Scenario: A downgrade lowers the quota at once
      Given Acme is on the early tier with 150 of its 1,000 monthly requests used
      And Acme has just downgraded to the free tier
      When Acme makes 1 request
      Then the request is refused because the monthly quota is used

  Rule: The quota renews when the billing period ends, not before

    Scenario Outline: A used-up quota at the turn of the billing period
      Given Acme is on the free tier with 100 of its 100 monthly requests used
      And the clock has reached <moment>
      When Acme makes 1 request
      Then the request is <outcome>

      Examples: Either side of the period's end
        | moment                                      | outcome                                       |
        | the last second of the billing period       | refused because the monthly quota is used     |
        | the first second of the next billing period | admitted                                      |

  Rule: Simultaneous requests on several platform instances never overshoot the quota

    @replicas
    Scenario: 100 simultaneous requests compete for the last 10 requests of the quota
      Given Acme is on the mid tier with 9,990 of its 10,000 monthly requests used
      And the platform runs as 2 instances sharing the same stores
      When 100 requests from Acme arrive at the same time, spread evenly over the instances
      Then exactly 10 requests are admitted
      And 90 requests are refused because the monthly quota is used
      And Acme has used 10,000 requests this billing period

  Rule: Every admitted request is billed once and recorded once in analytics

    Scenario: Ledger and analytics agree per tenant
      Given Acme is on the enterprise tier
      And Globex is on the early tier
      When the tenants make these requests:
        | tenant | requests |
        | Acme   | 7        |
        | Globex | 3        |
      Then the billing ledger and the usage analytics both show:
        | tenant | requests | amount |
        | Acme   | 7        | $0.07  |
        | Globex | 3        | $0.00  |

    Scenario: A retried request is admitted and billed once
      Given Acme is on the enterprise tier
      When Acme sends the same request 3 times
      Then the billing ledger and the usage analytics both show:
        | tenant | requests | amount |
        | Acme   | 1        | $0.01  |
      And Acme has used 1 request this billing period

  Rule: When the quota store cannot be reached, nothing is admitted unmetered

    Scenario: Requests are refused with a reason to retry, and nothing is billed
      Given Acme is on the mid tier
      And the quota store has become unreachable
      When Acme makes 3 requests
      Then all 3 requests are refused as temporarily unavailable, to be retried later
      And Acme has been billed for 0 requests
      And once the quota store is back, Acme has used 0 requests this billing period

  Rule: A request whose charge cannot be recorded is refused and gives back what it took

    The ledger is written after the quota is counted. When the write fails, the request is
    refused with a reason to retry, and its quota unit and its slot are returned.

    Scenario: The billing ledger is unreachable when the last requests of the quota arrive
      Given Acme is on the free tier with 99 of its 100 monthly requests used
      And the billing ledger has become unreachable
      When Acme makes 2 requests
      Then all 2 requests are refused as temporarily unavailable, to be retried later
      And each refusal says nothing was billed
      And Acme has been billed for 0 requests
      And Acme has used 99 requests this billing period
      And Acme has no requests in progress

    Scenario: A request retried while the billing ledger is unreachable keeps its one charge
      Given Acme is on the enterprise tier
      And Acme's request has been admitted and billed
      And the billing ledger has become unreachable
      When Acme sends the same request again
      Then the request is admitted
      And Acme has been billed for 1 request
      And Acme has used 1 request this billing period

  Rule: A tenant the quota store no longer holds is restored from its billing records at its next request

    The quota store keeps working copies of each tenant's tier and counters; the billing records
    are the truth. A tenant the quota store no longer holds (evicted, or lost with the store's
    data) is restored from its records at its next request, its quota counted from what it was
    billed, so it gets no more than it paid for. If its records cannot be read either, the
    request is refused with a reason to retry.

    Scenario: Acme's next requests after the quota store lost it count what Acme was billed
      Given Acme is on the free tier with 99 of its 100 monthly requests billed
      And the quota store no longer holds Acme
      When Acme makes 2 requests
      Then the first request is admitted
      And the second request is refused because the monthly quota is used, offering the early tier
      And Acme has been billed for 100 requests
      And Acme has used 100 requests this billing period

    Scenario: Acme's billing records are unreachable too: refused with a reason to retry
      Given Acme is on the free tier with 99 of its 100 monthly requests billed
      And the quota store no longer holds Acme
      And the billing ledger has become unreachable
      When Acme makes 2 requests
      Then all 2 requests are refused as temporarily unavailable, to be retried later
      And each refusal says nothing was billed
      And Acme has been billed for 99 requests

  Rule: Malformed input gets a clear error and changes nothing

    Scenario Outline: A malformed request is rejected
      Given Acme is on the free tier with 10 of its 100 monthly requests used
      When a request arrives <malformation>
      Then it is rejected as invalid, the error naming the <problem>
      And Acme has used 10 requests this billing period
      And Acme has been billed for 0 requests

      Examples: Crafted tenant ids
        | malformation                                     | problem   |
        | for the tenant id "acme'; DROP TABLE tenants;--" | tenant id |
        | for the tenant id "*"                            | tenant id |
        | for the tenant id "../acme"                      | tenant id |
        | for the tenant id "{acme}:quota"                 | tenant id |

      Examples: Absurd batch sizes from Acme
        | malformation                   | problem    |
        | from Acme as a batch of -1     | batch size |
        | from Acme as a batch of 0      | batch size |
        | from Acme as a batch of 1,001  | batch size |

    Scenario: A request for a tenant id with no subscription is rejected
      Given Acme is on the free tier
      When a request arrives for a tenant id that has no subscription
      Then it is rejected because the tenant has no subscription, and nothing is counted

    Scenario: A move to a tier that does not exist is rejected
      Given Acme is on the free tier
      When Acme asks to move to the "platinum" tier
      Then it is rejected as an unknown tier, the error listing the tiers on offer
      And Acme is still on the free tier
