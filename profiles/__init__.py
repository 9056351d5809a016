"""The Optimale pro offer as data: plans, price annex, numbering, rating, invoices, SLA."""
