"""Adapters: the implementations of the ports (:mod:`subscriptions.ports`) that a host
plugs into :class:`~subscriptions.center.BillingCenter`.

Importing this package imports no optional dependency; each adapter is imported by its
module path:

===========================================  ==================================================
module                                       what it holds
===========================================  ==================================================
:mod:`~subscriptions.adapters.memory`        :class:`~subscriptions.adapters.memory.InMemoryStore`,
                                             the transactional store of test suites and
                                             notebooks
:mod:`~subscriptions.adapters.fakes`         :class:`~subscriptions.adapters.fakes.FakeGateway`,
                                             :class:`~subscriptions.adapters.fakes.FakeVatVerifier`,
                                             :class:`~subscriptions.adapters.fakes.InMemoryNotifier`,
                                             :class:`~subscriptions.adapters.fakes.ManualClock`
:mod:`~subscriptions.adapters.journal`       :class:`~subscriptions.adapters.journal.FileJournal`,
                                             the fakes' durable memory across processes
:mod:`~subscriptions.adapters.clock`         :class:`~subscriptions.adapters.clock.SystemClock`,
                                             the real time
:mod:`~subscriptions.adapters.vies`          :class:`~subscriptions.adapters.vies.ViesVerifier`,
                                             VAT numbers checked with VIES (extra ``vies``)
:mod:`~subscriptions.adapters.sqlite`        :class:`~subscriptions.adapters.sqlite.SQLiteStore`
                                             (standard library)
:mod:`~subscriptions.adapters.postgres`      :class:`~subscriptions.adapters.postgres.PostgresStore`
                                             (extra ``postgres``)
:mod:`~subscriptions.adapters.stripe`        :class:`~subscriptions.adapters.stripe.StripeGateway`,
                                             the payment gateway on Stripe (extra ``stripe``);
                                             its amounts in
                                             :mod:`~subscriptions.adapters.stripe_amounts`
:mod:`~subscriptions.adapters.sql`           the SQL stores' common unit of work
:mod:`~subscriptions.adapters.sql_tables`    the tables it reads and writes
:mod:`~subscriptions.adapters.codec`         records to JSON documents and back
:mod:`~subscriptions.adapters.migrations`    the numbered schema migrations
===========================================  ==================================================
"""
