CREATE OR REPLACE VIEW `usage_analytics`.`all_events` AS
SELECT
  CAST('Search' AS STRING) AS `event_type`,
  t.`search_id` AS `event_id`,
  t.`search_id` AS `search_id`,
  t.`visit_id` AS `visit_id`,
  t.`visitor_id` AS `visitor_id`,
  t.`datetime` AS `datetime`,
  t.`user_name` AS `user_name`,
  t.`origin_level1` AS `origin_level1`,
  t.`origin_level2` AS `origin_level2`,
  t.`language` AS `language`,
  t.`country` AS `country`,
  t.`device_category` AS `device_category`,
  t.`is_anonymous` AS `is_anonymous`,
  t.`query_expression` AS `query_expression`,
  CAST(NULL AS INT64) AS `click_rank`,
  CAST(NULL AS STRING) AS `document_title`,
  CAST(NULL AS STRING) AS `document_uri`,
  CAST(NULL AS STRING) AS `custom_event_type`,
  CAST(NULL AS STRING) AS `event_value`
FROM `usage_analytics`.`searches` AS t
UNION ALL
SELECT
  CAST('Click' AS STRING) AS `event_type`,
  t.`click_id` AS `event_id`,
  t.`search_id` AS `search_id`,
  t.`visit_id` AS `visit_id`,
  t.`visitor_id` AS `visitor_id`,
  t.`datetime` AS `datetime`,
  t.`user_name` AS `user_name`,
  t.`origin_level1` AS `origin_level1`,
  t.`origin_level2` AS `origin_level2`,
  t.`language` AS `language`,
  t.`country` AS `country`,
  t.`device_category` AS `device_category`,
  t.`is_anonymous` AS `is_anonymous`,
  CAST(NULL AS STRING) AS `query_expression`,
  t.`click_rank` AS `click_rank`,
  t.`document_title` AS `document_title`,
  t.`document_uri` AS `document_uri`,
  CAST(NULL AS STRING) AS `custom_event_type`,
  CAST(NULL AS STRING) AS `event_value`
FROM `usage_analytics`.`clicks` AS t
UNION ALL
SELECT
  CAST('Custom' AS STRING) AS `event_type`,
  t.`custom_event_id` AS `event_id`,
  t.`last_search_id` AS `search_id`,
  t.`visit_id` AS `visit_id`,
  t.`visitor_id` AS `visitor_id`,
  t.`datetime` AS `datetime`,
  t.`user_name` AS `user_name`,
  t.`origin_level1` AS `origin_level1`,
  t.`origin_level2` AS `origin_level2`,
  t.`language` AS `language`,
  t.`country` AS `country`,
  t.`device_category` AS `device_category`,
  t.`is_anonymous` AS `is_anonymous`,
  CAST(NULL AS STRING) AS `query_expression`,
  CAST(NULL AS INT64) AS `click_rank`,
  CAST(NULL AS STRING) AS `document_title`,
  CAST(NULL AS STRING) AS `document_uri`,
  t.`event_type` AS `custom_event_type`,
  t.`event_value` AS `event_value`
FROM `usage_analytics`.`custom_events` AS t;

CREATE OR REPLACE VIEW `usage_analytics`.`daily_search_metrics` AS
WITH k AS (
  SELECT
    c.`search_id` AS `search_id`,
    COUNT(*) AS `clicks`,
    SUM(c.`click_rank`) AS rank_sum,
    COUNT(c.`click_rank`) AS ranked
  FROM `usage_analytics`.`clicks` AS c
  GROUP BY
    1
)
SELECT
  CAST(TIMESTAMP(DATETIME(s.`datetime`, 'UTC')) AS DATE) AS `day`,
  COUNT(*) AS `searches`,
  COUNT(k.`search_id`) AS `searches_with_clicks`,
  CAST(COALESCE(SUM(k.`clicks`), 0) AS INT64) AS `clicks`,
  CAST(COUNT(k.`search_id`) AS FLOAT64) / NULLIF(COUNT(*), 0) AS `click_through_rate`,
  CAST(SUM(k.rank_sum) AS FLOAT64) / NULLIF(SUM(k.ranked), 0) AS `average_click_rank`
FROM `usage_analytics`.`searches` AS s
LEFT JOIN k
  ON k.`search_id` = s.`search_id`
GROUP BY
  1;

CREATE OR REPLACE VIEW `usage_analytics`.`top_queries` AS
WITH k AS (
  SELECT DISTINCT
    c.`search_id` AS `search_id`
  FROM `usage_analytics`.`clicks` AS c
)
SELECT
  LOWER(TRIM(s.`query_expression`)) AS `query`,
  COUNT(*) AS `searches`,
  COUNT(k.`search_id`) AS `searches_with_clicks`,
  CAST(COUNT(k.`search_id`) AS FLOAT64) / NULLIF(COUNT(*), 0) AS `click_through_rate`,
  AVG(CAST(s.`number_of_results` AS FLOAT64)) AS `average_number_of_results`
FROM `usage_analytics`.`searches` AS s
LEFT JOIN k
  ON k.`search_id` = s.`search_id`
WHERE
  LOWER(TRIM(s.`query_expression`)) <> ''
GROUP BY
  1;

CREATE OR REPLACE VIEW `usage_analytics`.`zero_result_queries` AS
SELECT
  LOWER(TRIM(s.`query_expression`)) AS `query`,
  COUNT(*) AS `searches`,
  MIN(s.`datetime`) AS `first_seen`,
  MAX(s.`datetime`) AS `last_seen`
FROM `usage_analytics`.`searches` AS s
WHERE
  s.`number_of_results` = 0 AND LOWER(TRIM(s.`query_expression`)) <> ''
GROUP BY
  1;

CREATE OR REPLACE VIEW `usage_analytics`.`average_click_rank` AS
SELECT
  CAST(TIMESTAMP(DATETIME(c.`datetime`, 'UTC')) AS DATE) AS `day`,
  COUNT(*) AS `clicks`,
  AVG(CAST(c.`click_rank` AS FLOAT64)) AS `average_click_rank`
FROM `usage_analytics`.`clicks` AS c
GROUP BY
  1;

CREATE OR REPLACE VIEW `usage_analytics`.`custom_events_by_type` AS
SELECT
  CAST(TIMESTAMP(DATETIME(e.`datetime`, 'UTC')) AS DATE) AS `day`,
  e.`event_type` AS `event_type`,
  COUNT(*) AS `events`,
  COUNT(DISTINCT e.`visit_id`) AS `visits`
FROM `usage_analytics`.`custom_events` AS e
GROUP BY
  1,
  2;
