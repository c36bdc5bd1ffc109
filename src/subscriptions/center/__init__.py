"""The Billing Center's use cases that move money, one module per group.

:class:`~subscriptions.BillingCenter` is the facade; these modules hold the use cases
it delegates to, over the ports, calling the pure core for every decision:

* :mod:`.issuing`: numbering and dating documents in their series;
* :mod:`.attempts`: sending a payment attempt and recording its outcome, the one
  path every charge and refund takes;
* :mod:`.refunds`: the refund of a charge that cannot be kept, on record;
* :mod:`.purchase`: completing what an order bought (or failing it), in one unit of
  work;
* :mod:`.orders`: placing and resuming orders;
* :mod:`.invoices`: paying an open invoice on session;
* :mod:`.reconcile`: resolving every attempt left in flight;
* :mod:`.billrun`: renewals, retries and lapses, in batches.
"""
