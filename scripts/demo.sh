#!/usr/bin/env bash
# make demo: start the local AWS (moto) and a local OCI registry, deploy playbooks/site.yml against
# inventories/local, show playbooks/status.yml, and say where things are and how to tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
export PATH="$venv/bin:$PATH"
# The committed ansible.cfg's collections path (collections/ansible_collections/spillover/lambda_ecs links to
# this working tree), set here too so that an ANSIBLE_COLLECTIONS_PATH of the caller's shell cannot point elsewhere.
export ANSIBLE_COLLECTIONS_PATH="$root/collections"
export LOCAL_AWS_HOST=${LOCAL_AWS_HOST:-127.0.0.1} LOCAL_AWS_PORT=${LOCAL_AWS_PORT:-45660}
export LOCAL_REGISTRY_PORT=${LOCAL_REGISTRY_PORT:-45670}
state_dir=${LOCAL_AWS_DIR:-.local-aws}
endpoint="http://$LOCAL_AWS_HOST:$LOCAL_AWS_PORT"
inventory=inventories/local

mkdir -p "$state_dir"

echo "== 1/4 local AWS"
scripts/local-aws.sh up

echo "== 2/4 local registry (stands in for ECR's endpoint) and the base image: scripts/local-registry.sh up"
scripts/local-registry.sh up

echo "== 3/4 deploy: ansible-playbook -i $inventory playbooks/site.yml"
start=$(date +%s)
ansible-playbook -i "$inventory" playbooks/site.yml
echo "deployed in $(( $(date +%s) - start )) s"

echo "== 4/4 status: ansible-playbook -i $inventory playbooks/status.yml"
ansible-playbook -i "$inventory" playbooks/status.yml

stack=$(ansible-inventory -i "$inventory" --host local | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["spillover_stack_name"])')
cat <<TEXT

Where things are (local AWS at $endpoint, account 123456789012, us-east-1):
  load balancer   $stack            (listener on port 80; weights Lambda 100 / ECS 0)
  app function    $stack-app        (target group $stack-lambda)
  ECS service     $stack/$stack-app (target group $stack-ecs, standby count)
  scaler function $stack-scaler     (rules $stack-alarm-state, $stack-task-state and $stack-schedule)
  alarms          $stack-spill-throttles, $stack-spill-lambda-user-error, $stack-spill-concurrency, $stack-spill-pressure,
                  $stack-warm-concurrency, $stack-warm-pressure
  dashboard       $stack             (CloudWatch; status.yml prints its console URL)
  image registry  127.0.0.1:$LOCAL_REGISTRY_PORT

Try:
  ansible-playbook -i $inventory playbooks/status.yml
  ansible-playbook -i $inventory playbooks/site.yml          # again: changed=0
  make lab                                                   # a burst through the local data plane
Tear down:
  ansible-playbook -i $inventory playbooks/teardown.yml      # remove the stack (harmless twice)
  make local-aws-down                                        # stop the local AWS
  scripts/local-registry.sh down                             # stop the local registry
TEXT

# A short burst through the lab's local data plane (the inventories/lab stack, deployed by site.yml when
# absent): it prints where its report and plot are. SKIP_LAB_BURST=1 skips it.
if [ -z "${SKIP_LAB_BURST:-}" ]; then
  echo "== short burst: python -m lab run --profile short (about 2 minutes)"
  "$venv/bin/python" -m lab run --profile short
fi
