//! Accounts: the create's one transaction (task, charge, idempotency), usage, violations, the
//! ledger, and the create's one-round-trip read.

use super::*;

impl Accounts for DynamoTaskStore {
    async fn create_task(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
        charge: &Charge,
    ) -> Result<CreateOutcome, StoreError> {
        if task.cost_units > charge.daily_budget {
            return Ok(CreateOutcome::Refused(ChargeRefusal::Budget));
        }
        let items = self.charge_items(task, idempotency, charge)?;
        let result = self
            .client
            .transact_write_items()
            .client_request_token(task.id.to_string())
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(CreateOutcome::Created),
            Err(e) => e,
        };
        let canceled = err
            .as_service_error()
            .is_some_and(|se| se.is_transaction_canceled_exception());
        if !canceled {
            return Err(backend(err));
        }
        // Which condition failed, from the state now: a used key is a replay whatever else
        // failed with it; then the plan's limits.
        if let Some(existing) = self
            .get_idempotency(&idempotency.user_id, &idempotency.key)
            .await?
        {
            return Ok(CreateOutcome::KeyExists(existing));
        }
        let view = self.account(&task.user_id, &charge.day).await?;
        let usage = crate::domain::plans::Usage {
            in_flight: view.in_flight,
            used_today: view.used_today,
            suspended_until: view.suspended_until,
        };
        Ok(CreateOutcome::Refused(
            crate::domain::plans::charge_refusal(
                &usage,
                charge.max_concurrent,
                charge.daily_budget,
                task.cost_units,
                charge.now_secs,
            ),
        ))
    }

    async fn account(&self, user_id: &str, day: &str) -> Result<AccountView, StoreError> {
        let get = |sk: String| {
            self.client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(user_pk(user_id)))
                .key("sk", s(sk))
                .consistent_read(true)
                .send()
        };
        let account = get("ACCOUNT".into())
            .await
            .map_err(backend)?
            .item
            .unwrap_or_default();
        let usage = get(usage_sk(day))
            .await
            .map_err(backend)?
            .item
            .unwrap_or_default();
        Ok(account_view(&account, &usage))
    }

    async fn record_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
        policy: ViolationPolicy,
    ) -> Result<Option<i64>, StoreError> {
        let Some(violations) = self.count_violation(user_id, request, now_secs).await? else {
            let today = timestamp::utc_day(timestamp::now());
            let suspended = self.account(user_id, &today).await?.suspended_until;
            return Ok(suspended.filter(|u| *u > now_secs));
        };
        let Some(until) = crate::domain::plans::suspension(&violations, now_secs, policy) else {
            return Ok(None);
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression(
                "SET suspended_until = :until, violations = :empty REMOVE violation_requests",
            )
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .send()
            .await
            .map_err(backend)?;
        Ok(Some(until))
    }

    async fn ledger(&self, user_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :ledger)")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":ledger", s("LEDGER#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in out.items.unwrap_or_default() {
                entries.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }
}

/// The three items in one `BatchGetItem` (strongly consistent); keys DynamoDB leaves
/// unprocessed are read one by one.
impl crate::ports::Admission for DynamoTaskStore {
    async fn admission(
        &self,
        user_id: &str,
        day: &str,
        key: &str,
    ) -> Result<(AccountView, Option<IdempotencyRecord>), StoreError> {
        let sks = [
            "ACCOUNT".to_string(),
            usage_sk(day),
            format!("IDEMPOTENCY#{key}"),
        ];
        let keys: Vec<Item> = sks
            .iter()
            .map(|sk| {
                HashMap::from([
                    ("pk".to_string(), s(user_pk(user_id))),
                    ("sk".to_string(), s(sk.clone())),
                ])
            })
            .collect();
        let wanted = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, wanted)
            .send()
            .await
            .map_err(backend)?;
        if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
            let record = self.get_idempotency(user_id, key).await?;
            return Ok((self.account(user_id, day).await?, record));
        }
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        let by_sk = |sk: &str| {
            let found = items
                .iter()
                .find(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(sk));
            found.cloned().unwrap_or_default()
        };
        let view = account_view(&by_sk(&sks[0]), &by_sk(&sks[1]));
        let record = Some(by_sk(&sks[2])).filter(|i| !i.is_empty());
        let record = record
            .map(from_item::<IdempotencyItem>)
            .transpose()?
            .map(|i| i.record);
        Ok((view, record))
    }
}

impl Idempotency for DynamoTaskStore {
    async fn idempotency(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_idempotency(user_id, key).await
    }
}

impl DynamoTaskStore {
    /// Append a violation unless this request was counted before (a retry, or the SDK
    /// resending after a lost reply): the account's violations now, or `None` if counted.
    async fn count_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression(
                "SET violations = list_append(if_not_exists(violations, :empty), :v) \
                 ADD violation_requests :request",
            )
            .condition_expression(
                "attribute_not_exists(violation_requests) OR NOT contains(violation_requests, :r)",
            )
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":v", AttributeValue::L(vec![n(now_secs)]))
            .expression_attribute_values(":request", AttributeValue::Ss(vec![request.into()]))
            .expression_attribute_values(":r", s(request))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(backend(e)),
        };
        let violations = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("violations"))
            .and_then(|v| v.as_l().ok())
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_n().ok()?.parse::<i64>().ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(violations))
    }
}
