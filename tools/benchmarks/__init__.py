"""`make bench`: this project beside a re-creation of the seed's Lambda functions, on one moto server."""
