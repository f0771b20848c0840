"""Exports: the lists a user may see, as CSV (UTF-8 with BOM, or cp932) or as an Excel workbook.

`sheets` says what each list holds (its columns, under Japanese and English headers, and how
each stored value becomes a cell); `service` decides which rows the user may have, counts and
audits the export and reads the rows in batches; `writers` turns the batches into file bytes
as they come, so a list of 100,000 accounts never sits in memory.
"""
