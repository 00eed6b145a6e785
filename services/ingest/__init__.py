"""Ingest: lead CSVs in, validated LeadImported events out."""
