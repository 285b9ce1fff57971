"""Singer target writing records into Pipedrive CRM (reverse ETL), sharing the tap's code."""
