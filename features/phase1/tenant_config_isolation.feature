@phase1 @L3 @mrr:200000
Feature: Multi-tenant configuration isolation
  Enterprise customers keep their agents' configuration on Apex: which models their agents use,
  their limits, their webhooks, and the API keys of their LLM providers. They buy Apex on the
  promise that no other customer can ever see or change any of it, that it stays in the region
  they chose, and that every access to it is on record. The database itself keeps that promise,
  not only the application code. $200,000 of monthly recurring revenue rides on it.

  Rule: A tenant manages its own configuration, and no other tenant can touch it

    Scenario: A tenant changes its own settings, and each change is on record
      Given Acme is a tenant hosted in the EU region
      And Acme's configuration has these settings:
        | setting             | value |
        | default.model       | large |
        | max.concurrent_runs | 20    |
      When Acme changes its setting "default.model" to "medium"
      Then Acme's audit trail shows, each stamped with the time it happened:
        | actor                | action | tenant addressed | setting             | outcome |
        | Acme's administrator | write  | Acme             | default.model       | allowed |
        | Acme's administrator | write  | Acme             | max.concurrent_runs | allowed |
        | Acme's administrator | write  | Acme             | default.model       | allowed |
      And Acme's configuration reads:
        | setting             | value  | version |
        | default.model       | medium | 2       |
        | max.concurrent_runs | 20     | 1       |

    Scenario: A tenant removes one of its own settings
      Given Acme is a tenant hosted in the EU region
      And Acme's configuration has these settings:
        | setting             | value |
        | default.model       | large |
        | max.concurrent_runs | 20    |
      When Acme removes its setting "max.concurrent_runs"
      Then Acme's configuration reads:
        | setting       | value | version |
        | default.model | large | 1       |

    Scenario Outline: Another tenant is refused whatever it tries, and the attempt is on record
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's configuration has these settings:
        | setting             | value |
        | default.model       | large |
        | max.concurrent_runs | 20    |
      When Globex tries to <action> in Acme's configuration
      Then the attempt is refused, and Globex learns nothing of Acme's settings
      And Acme's configuration is unchanged
      And Globex's audit trail shows, each stamped with the time it happened:
        | actor                  | action    | tenant addressed | setting   | outcome |
        | Globex's administrator | <audited> | Acme             | <setting> | refused |

      Examples: Every action on another tenant's configuration
        | action                    | audited | setting       |
        | read "default.model"      | read    | default.model |
        | list the settings         | list    |               |
        | overwrite "default.model" | write   | default.model |
        | delete "default.model"    | delete  | default.model |

    Scenario Outline: A viewer of the tenant may read its settings but not change them, and the attempt is on record
      Given Acme is a tenant hosted in the EU region
      And Acme's configuration has these settings:
        | setting             | value |
        | default.model       | large |
        | max.concurrent_runs | 20    |
      When Acme's viewer tries to <action> in Acme's configuration
      Then the change is refused
      And Acme's configuration is unchanged
      And Acme's audit trail shows, each stamped with the time it happened:
        | actor                | action    | tenant addressed | setting             | outcome |
        | Acme's administrator | write     | Acme             | default.model       | allowed |
        | Acme's administrator | write     | Acme             | max.concurrent_runs | allowed |
        | Acme's viewer        | <audited> | Acme             | default.model       | refused |

      Examples: Changes only an administrator may make
        | action                    | audited |
        | overwrite "default.model" | write   |
        | delete "default.model"    | delete  |

  Rule: Even a query that forgets its tenant filter sees only the current tenant's records

    Scenario Outline: A query naming no tenant, run in Acme's session, returns only Acme's records
      Given Acme and Globex are tenants hosted in the EU region, each with 3 settings
      When <who> reads every one of the <records> without naming a tenant, in Acme's session
      Then it gets <count> records, all of them Acme's

      Examples: The platform's own access to the store
        | who          | records       | count |
        | the platform | settings      | 3     |
        | the platform | audit records | 3     |

      Examples: Maintenance jobs running as the owner of the store
        | who                    | records       | count |
        | the owner of the store | settings      | 3     |
        | the owner of the store | audit records | 3     |

    Scenario Outline: A query outside any tenant's session returns nothing
      Given Acme and Globex are tenants hosted in the EU region, each with 3 settings
      When <who> reads every one of the settings without naming a tenant, outside any tenant's session
      Then it gets no records at all

      Examples: The platform and the owner of the store
        | who                    |
        | the platform           |
        | the owner of the store |

  Rule: A tenant's account records are kept apart by the database too

    Subscriptions, charges, API keys, home regions, agent runs and the steps saved of each run
    live in the platform's main database, under the same rule as configuration: the database
    shows and changes only the records of the tenant a session acts for, whatever the query says.

    Scenario Outline: The platform's own read of account records, naming no tenant, returns only the session's tenant's
      Given Acme and Globex are tenants hosted in the EU region, each with 2 API keys, 2 billed requests and 2 agent runs
      When the platform reads every one of the <records> without naming a tenant, in Acme's session
      Then it gets <count> records, all of them Acme's

      Examples: Account records
        | records           | count |
        | charges           | 2     |
        | API keys          | 2     |
        | home regions      | 1     |
        | agent runs        | 2     |
        | saved agent steps | 2     |

    Scenario Outline: The platform's own read of account records outside any tenant's session returns nothing
      Given Acme and Globex are tenants hosted in the EU region, each with 2 API keys, 2 billed requests and 2 agent runs
      When the platform reads every one of the <records> without naming a tenant, outside any tenant's session
      Then it gets no records at all

      Examples: Account records
        | records           |
        | subscriptions     |
        | charges           |
        | API keys          |
        | home regions      |
        | agent runs        |
        | saved agent steps |

    Scenario Outline: A write to Acme's account from outside Acme's session is refused
      Given Acme and Globex are tenants hosted in the EU region, each with 2 API keys, 2 billed requests and 2 agent runs
      When the platform, acting for <actor>, tries to <change> on Acme's account
      Then the database refuses it, and Acme's account is unchanged

      Examples: Acting for no tenant
        | actor     | change          |
        | no tenant | change the tier |
        | no tenant | record a charge |
        | no tenant | add an API key  |

      Examples: Acting for another tenant
        | actor  | change          |
        | Globex | change the tier |
        | Globex | record a charge |
        | Globex | add an API key  |

  Rule: What was billed, issued, pinned or run is added to, never rewritten

    A charge, once recorded, stands: a correction is a new record. An API key is issued and
    later revoked, never given another secret. A tenant's home region is pinned once. A run's
    log is appended to, and a step, once saved, is what a worker taking the run over resumes
    from. Not even the platform, acting for the tenant itself, may rewrite them.

    Scenario Outline: Acme's own session may not <change>
      Given Acme and Globex are tenants hosted in the EU region, each with 2 API keys, 2 billed requests and 2 agent runs
      When the platform, acting for Acme, tries to <change> on Acme's account
      Then the database refuses it, and Acme's account is unchanged

      Examples: Rewrites
        | change                      |
        | change a charge's amount    |
        | remove a charge             |
        | move the home region        |
        | replace an API key's secret |
        | rewrite a run's event       |
        | rewrite a saved agent step  |

  Rule: A pooled connection carries nothing of one tenant's request into the next

    Scenario: The connection that served Acme serves Globex next, with no trace of Acme
      Given Acme and Globex are tenants hosted in the EU region, each with 3 settings
      When Acme lists its settings and then Globex lists its own, on a platform with a single database connection
      Then both requests were served by the same connection
      And between the two requests that connection acted for no tenant, and a query naming none saw no records
      And Globex saw its 3 settings and nothing of Acme's

    Scenario: A background job serving several tenants on one connection keeps each tenant's settings to itself
      Given Acme, Globex and Initech are tenants hosted in the EU region, each with 3 settings
      And the cached configuration of Acme, Globex and Initech has been lost
      When the background job refreshes the cached configuration of Acme, Globex and Initech, on a single database connection
      Then each tenant's cached configuration holds exactly its own 3 settings
      And after the job that connection acts for no tenant, and a query naming none sees no records

  Rule: A configuration cached for one tenant is never served to another

    Scenario: A tenant reading a setting another tenant has cached gets its own value
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's configuration has these settings:
        | setting       | value |
        | default.model | large |
      And Globex's configuration has these settings:
        | setting       | value |
        | default.model | small |
      And Acme has read its setting "default.model"
      When Globex reads its setting "default.model"
      Then Globex gets "small"

    Scenario: A tenant reading a setting only another tenant has is told it has no such setting
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's configuration has these settings:
        | setting       | value |
        | default.model | large |
      And Acme has read its setting "default.model"
      When Globex reads its setting "default.model"
      Then Globex is told it has no setting "default.model"

    Scenario Outline: An attempt to poison a tenant's cached configuration fails
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's configuration has these settings:
        | setting       | value |
        | default.model | large |
      And Acme has read its setting "default.model"
      When Globex tries to poison Acme's cached configuration <how>
      Then Acme's setting "default.model" still reads "large"
      And Acme's cached configuration holds only what Acme wrote

      Examples: Through what a tenant may send
        | how                                                      |
        | by writing to Acme's tenant id                           |
        | by writing to Acme's tenant id with a cache wildcard     |
        | by writing a setting whose name reaches into Acme's cache |
        | by writing a value that claims to be Acme's              |

    Scenario: A cached entry found under the wrong tenant is never served
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's configuration has these settings:
        | setting       | value |
        | default.model | large |
      And Globex's configuration has these settings:
        | setting       | value |
        | default.model | small |
      And Globex has read its setting "default.model"
      And Globex's cached "default.model" has found its way into Acme's cache
      When Acme reads its setting "default.model"
      Then Acme gets "large"

  Rule: A tenant's configuration and audit trail stay in its region

    Scenario Outline: Everything a tenant stores stays in its home region
      Given Acme is a tenant hosted in the <home> region
      When Acme stores 2 settings, one of them its LLM provider's API key, and reads them back
      Then the stores hold this much of Acme:
        | region | settings   | audit records | cached settings |
        | EU     | <eu>       | <eu audit>    | <eu>            |
        | US     | <us>       | <us audit>    | <us>            |
        | APAC   | <apac>     | <apac audit>  | <apac>          |

      Examples: Each region the platform runs in
        | home | eu | eu audit | us | us audit | apac | apac audit |
        | EU   | 2  | 3        | 0  | 0        | 0    | 0          |
        | US   | 0  | 0        | 2  | 3        | 0    | 0          |
        | APAC | 0  | 0        | 0  | 0        | 2    | 3          |

  Rule: Secrets are stored encrypted and come back in plain text only to their owner

    Scenario: A provider API key is stored encrypted
      Given Acme is a tenant hosted in the EU region
      When Acme's administrator stores its LLM provider's API key
      Then the stored record of Acme's key does not contain the key in any readable form
      And Acme's cached configuration does not contain the key in any readable form either

    Scenario Outline: Only the owning tenant's authorized caller gets the key in plain text
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's administrator has stored its LLM provider's API key
      When <caller> asks for Acme's LLM provider's API key
      Then <caller> is answered with <answer>

      Examples: Callers of the owning tenant and of another
        | caller                 | answer                  |
        | Acme's administrator   | the key in plain text   |
        | Acme's viewer          | the key masked          |
        | Globex's administrator | a refusal, and no key   |

    Scenario: A key copied into another tenant's record cannot be decrypted there
      Given Acme and Globex are tenants hosted in the EU region
      And Acme's administrator has stored its LLM provider's API key
      And the stored record of Acme's key has been copied into Globex's configuration
      When Globex's administrator asks for Globex's LLM provider's API key
      Then Globex's administrator is answered with a refusal because the key fails its integrity check, and no key

  Rule: The audit trail can be added to, never rewritten

    Scenario Outline: Rewriting the audit trail is refused, even to the owner of the store
      Given Acme is a tenant hosted in the EU region, with 3 settings
      When <who> tries to <rewrite> the audit records of Acme
      Then the attempt is refused
      And Acme's audit trail is unchanged

      Examples: The platform's own role
        | who          | rewrite       |
        | the platform | change one of |
        | the platform | delete one of |
        | the platform | wipe out all  |

      Examples: The owner of the store, as a migration or maintenance job would run
        | who                    | rewrite       |
        | the owner of the store | change one of |
        | the owner of the store | delete one of |
        | the owner of the store | wipe out all  |

  Rule: Random cross-tenant attacks never reach another tenant's configuration

    Scenario: 10 attack shapes, 20 random attempts each, reach nothing of Acme's
      Given Acme and Globex are tenants hosted in the EU region, each with 3 settings
      When Globex makes 20 random attempts of each of these shapes on Acme's configuration:
        | attack shape                                  |
        | Acme's exact tenant id                        |
        | Acme's tenant id with something added to it   |
        | Acme's tenant id in other letters or spacing  |
        | a quote that ends the text early              |
        | a wildcard                                    |
        | a star                                        |
        | a path that climbs out of Globex's own        |
        | a filter meant to match every tenant          |
        | a setting name that reaches into Acme's       |
        | a payload that claims to be Acme's            |
      Then none of the 200 attempts returned anything of Acme's
      And Acme's configuration is unchanged
      And every attempt aimed at Acme was refused and is on record in Globex's audit trail
