//! Task records: the versioned writes through the state machine, the terminal write with its
//! slot and refund, listing, and the index of unfinished tasks.

use super::dispatch::capacity_pk;
use super::*;

impl DynamoTaskStore {
    /// The terminal write: the task, the freed slot and, for a failure, the refund, together.
    /// `false` means the task changed under us.
    pub(super) async fn finish(
        &self,
        before: &Task,
        after: &Task,
        item: Item,
        version: u64,
    ) -> Result<bool, StoreError> {
        let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(Box::new(e));
        let task_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .build()
            .map_err(build_err)?;
        let release = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&before.user_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression("ADD in_flight :minus_one")
            .expression_attribute_values(":minus_one", n(-1))
            .build()
            .map_err(build_err)?;
        // The provider account's slot is freed with the terminal write (a no-op when the task
        // never held one).
        let free_slot = Update::builder()
            .table_name(&self.table)
            .key("pk", s(capacity_pk(&before.slot_key())))
            .key("sk", s("SLOTS"))
            .update_expression("DELETE holders :me")
            .expression_attribute_values(":me", AttributeValue::Ss(vec![before.id.to_string()]))
            .build()
            .map_err(build_err)?;
        let mut items = vec![
            TransactWriteItem::builder().put(task_put).build(),
            TransactWriteItem::builder().update(release).build(),
            TransactWriteItem::builder().update(free_slot).build(),
        ];
        if after.status.refunds() && before.cost_units.0 > 0 {
            items.extend(self.refund_items(before, after)?);
        }
        let tx = self
            .client
            .transact_write_items()
            // A retry after a lost reply is then the same transaction, not a refused second one.
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .set_transact_items(Some(items));
        match tx.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// A failed task's refund: today's usage of the day that paid, and the ledger's entry.
    pub(super) fn refund_items(
        &self,
        before: &Task,
        after: &Task,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let day = crate::domain::plans::refund_day(before.created_at);
        let refund_usage = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&before.user_id)))
            .key("sk", s(usage_sk(&day)))
            .update_expression("ADD units :refund")
            .expression_attribute_values(":refund", negative_units(before.cost_units))
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let refund = LedgerEntry::refund(before, after);
        let ledger = ledger_item(&before.user_id, &refund)?;
        Ok(vec![
            TransactWriteItem::builder().update(refund_usage).build(),
            put(&self.table, ledger, Some("attribute_not_exists(pk)"))?,
        ])
    }

    /// The create transaction: the task and the key's record (both new), the account's slot
    /// (under the plan's concurrency, not suspended), today's usage (within the budget) and
    /// the ledger's debit.
    pub(super) fn charge_items(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
        charge: &Charge,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let now = charge.now_secs;
        let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(Box::new(e));
        let remaining = CostUnits(charge.daily_budget.0.saturating_sub(task.cost_units.0));
        let idem_item = to_item(&IdempotencyItem {
            pk: user_pk(&idempotency.user_id),
            sk: format!("IDEMPOTENCY#{}", idempotency.key),
            expires_at: now + IDEMPOTENCY_TTL_SECS,
            record: idempotency.clone(),
        })?;
        let account = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&task.user_id)))
            .key("sk", s("ACCOUNT"))
            // The plan is not pinned here: the token's plan (or an operator's) is read live.
            .update_expression("ADD in_flight :one")
            .condition_expression(
                "(attribute_not_exists(in_flight) OR in_flight < :max) \
                 AND (attribute_not_exists(suspended_until) OR suspended_until <= :now)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(charge.max_concurrent))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_err)?;
        let usage = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&task.user_id)))
            .key("sk", s(usage_sk(&charge.day)))
            .update_expression("ADD units :cost SET expires_at = if_not_exists(expires_at, :ttl)")
            .condition_expression("attribute_not_exists(units) OR units <= :remaining")
            .expression_attribute_values(":cost", units(task.cost_units))
            .expression_attribute_values(":remaining", units(remaining))
            .expression_attribute_values(":ttl", n(now + USAGE_TTL_SECS))
            .build()
            .map_err(build_err)?;
        let debit = LedgerEntry::debit(task, &charge.day);
        let new = Some("attribute_not_exists(pk)");
        Ok(vec![
            put(&self.table, to_item(&TaskItem::new(task.clone(), 1))?, new)?,
            put(&self.table, idem_item, new)?,
            TransactWriteItem::builder().update(account).build(),
            TransactWriteItem::builder().update(usage).build(),
            put(&self.table, ledger_item(&task.user_id, &debit)?, new)?,
        ])
    }

    /// Read, change with a pure rule, and write back only if nobody wrote in between; `None`
    /// when the rule changes nothing (or the task does not exist).
    pub(super) async fn update_task(
        &self,
        task_id: &str,
        rule: impl Fn(&Task) -> Option<Task> + Send,
    ) -> Result<Option<Task>, StoreError> {
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let Some(current) = self.get_task_item(task_id).await? else {
                return Ok(None);
            };
            let Some(next) = rule(&current.task) else {
                return Ok(None);
            };
            let item = to_item(&TaskItem::new(next.clone(), current.version + 1))?;
            if self.put_versioned(item, current.version).await? {
                return Ok(Some(next));
            }
        }
        Err(StoreError::Contention(task_id.to_string()))
    }

    /// Put a task item only if nobody wrote it since `version`; `false` when someone had.
    pub(super) async fn put_versioned(&self, item: Item, version: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }
}

impl Tasks for DynamoTaskStore {
    async fn get_task(&self, task_id: &str) -> Result<Option<Task>, StoreError> {
        Ok(self.get_task_item(task_id).await?.map(|i| i.task))
    }

    async fn apply(
        &self,
        task_id: &str,
        event: TaskEvent,
        patch: TaskPatch,
    ) -> Result<Applied, StoreError> {
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let current = self
                .get_task_item(task_id)
                .await?
                .ok_or_else(|| StoreError::NoSuchTask(task_id.to_string()))?;
            let Some(next) = apply_event(&current.task, event, &patch, Timestamp::now())? else {
                return Ok(Applied {
                    task: current.task,
                    moved: false,
                });
            };
            let moved = next.status != current.task.status;
            let item = to_item(&TaskItem::new(next.clone(), current.version + 1))?;
            let written = if moved && next.status.is_terminal() {
                self.finish(&current.task, &next, item, current.version)
                    .await?
            } else {
                self.put_versioned(item, current.version).await?
            };
            if written {
                return Ok(Applied { task: next, moved });
            }
            // Someone else wrote first: read again and decide again.
        }
        Err(StoreError::Contention(task_id.to_string()))
    }

    async fn list_tasks(
        &self,
        user_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TaskPage, StoreError> {
        let start_key = cursor.map(|c| decode_cursor(c, user_id)).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :u")
            .expression_attribute_values(":u", s(user_pk(user_id)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(backend)?;
        let tasks = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<TaskItem>(item).map(|i| i.task))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = out.last_evaluated_key.map(|k| encode_cursor(&k));
        Ok(TaskPage { tasks, next_cursor })
    }

    async fn mark_deleted(
        &self,
        task_id: &str,
        now: Timestamp,
    ) -> Result<Option<Task>, StoreError> {
        let changed = self
            .update_task(task_id, |t| crate::domain::state::mark_deleted(t, now))
            .await?;
        match changed {
            Some(next) => Ok(Some(next)),
            None => self.get_task(task_id).await,
        }
    }

    async fn claim_submit(
        &self,
        task_id: &str,
        provider: &str,
        account: &str,
        seen_attempt: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Task>, StoreError> {
        self.update_task(task_id, |t| {
            crate::domain::state::claim_submit(t, provider, account, seen_attempt, now)
        })
        .await
    }

    async fn reassign(
        &self,
        task_id: &str,
        seen_attempt: Option<Timestamp>,
        to: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let moved = self
            .update_task(task_id, |t| {
                crate::domain::state::reassign(t, seen_attempt, to, now)
            })
            .await?;
        Ok(moved.is_some())
    }

    async fn defer(&self, task_id: &str, retry_at: Timestamp) -> Result<(), StoreError> {
        self.update_task(task_id, |t| crate::domain::state::defer(t, retry_at))
            .await?;
        Ok(())
    }
}

impl crate::ports::PosterRecords for DynamoTaskStore {
    async fn record_poster(
        &self,
        task_id: &str,
        video_key: &str,
        poster: &crate::domain::task::Poster,
    ) -> Result<bool, StoreError> {
        let added = self
            .update_task(task_id, |t| {
                crate::domain::state::add_poster(t, video_key, poster)
            })
            .await?;
        Ok(added.is_some())
    }
}

impl ReconcileIndex for DynamoTaskStore {
    async fn stale_tasks(&self, cutoff: Timestamp, limit: u32) -> Result<Vec<Task>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :active AND gsi2sk < :cutoff")
            .expression_attribute_values(":active", s(ACTIVE))
            .expression_attribute_values(":cutoff", s(cutoff.to_string()))
            .limit(limit as i32)
            .send()
            .await
            .map_err(backend)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<TaskItem>(item).map(|i| i.task))
            .collect()
    }

    async fn claim_check(
        &self,
        task_id: &str,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(task_pk(task_id)))
            .key("sk", s("TASK"))
            .update_expression("SET checked_at = :now, gsi2sk = :sk")
            .condition_expression(
                "attribute_exists(gsi2pk) AND updated_at < :cutoff \
                 AND (attribute_not_exists(checked_at) OR attribute_type(checked_at, :null) OR checked_at < :cutoff)",
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":sk", s(format!("{now}#{task_id}")))
            .expression_attribute_values(":cutoff", s(cutoff.to_string()))
            .expression_attribute_values(":null", s("NULL"))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }
}
